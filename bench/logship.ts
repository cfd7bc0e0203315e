/**
 * Log shipper throughput, CPU and RSS beside Debian's rsyslog `imfile` in the same run. Each round
 * prepares the same CRI log files (CONTAINERS containers × LINES lines, kubelet's
 * `<ns>_<pod>_<uid>/<container>/0.log` layout), starts the contender idle on an empty log tree, then
 * moves the files in and times until a receiver in this process has counted every line:
 *   hedge   — the node's LogShipper (its own process, the V8 flags `hedge node` runs with, sources
 *             through tsx: the transpiler is in its RSS), sink `syslog+tcp://` (RFC 5424,
 *             octet-counted, labels from the path as structured data);
 *   rsyslog — rsyslogd with imfile (inotify, wildcard directories) → omfwd TCP octet-counted with
 *             RSYSLOG_SyslogProtocol23Format. It forwards each CRI line as is (no CRI parsing, no
 *             labels): less work per line than the shipper does.
 * Contenders alternate within a round; medians over the rounds. CPU = utime+stime of the process
 * while shipping; RSS = VmHWM (peak) and VmRSS when idle before the files came.
 * Also: lines/s of the CRI log writer the microVM handler writes container logs with.
 * Asserts nothing. Run as root: node --import tsx bench/logship.ts [rounds=3] [lines-per-container=50000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriLogWriter } from '../src/agent/runtime/microvm/cri-log-writer.ts';

const ROUNDS = Number(process.argv[2] ?? 3);
const LINES = Number(process.argv[3] ?? 50_000);
const CONTAINERS = 4;
const TOTAL = LINES * CONTAINERS;
const RSYSLOGD = '/usr/sbin/rsyslogd';
const CLK_TCK = 100;
const REPO = join(import.meta.dirname, '..');

interface Sample {
  linesPerSec: number;
  cpuMs: number;
  peakRssMiB: number;
  idleRssMiB: number;
}

/** counts octet-counted syslog frames (RFC 6587) on any number of connections */
function frameCounter(): Promise<{ server: Server; port: number; count: () => number; reset: () => void }> {
  let n = 0;
  const server = createServer((sock) => {
    let buf: Buffer = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? Buffer.from(d) : Buffer.concat([buf, d]);
      let pos = 0;
      for (;;) {
        const sp = buf.indexOf(0x20, pos);
        if (sp < 0 || sp - pos > 10) break;
        const len = Number(buf.subarray(pos, sp).toString('latin1'));
        if (sp + 1 + len > buf.length) break;
        pos = sp + 1 + len;
        n++;
      }
      buf = buf.subarray(pos);
    });
    sock.on('error', () => undefined);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a !== null ? a.port : 0, count: () => n, reset: () => (n = 0) });
    }),
  );
}

async function procStat(pid: number): Promise<{ cpuMs: number; hwmKiB: number; rssKiB: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuMs = ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { cpuMs, hwmKiB: kib('VmHWM'), rssKiB: kib('VmRSS') };
}

async function waitFor(what: string, ms: number, cond: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  return exited;
}

/** the same CRI content for every contender: CONTAINERS files of LINES lines */
function criFile(container: string): Buffer {
  const pad = 'x'.repeat(60);
  const parts: string[] = [];
  for (let i = 0; i < LINES; i++) parts.push(`2026-12-03T08:00:00.${String(i % 1e9).padStart(9, '0')}Z ${i % 5 === 0 ? 'stderr' : 'stdout'} F ${container} line ${i} ${pad}\n`);
  return Buffer.from(parts.join(''));
}

async function prepare(dir: string, files: Map<string, Buffer>): Promise<string[]> {
  const out: string[] = [];
  for (const [c, data] of files) {
    const podDir = join(dir, `bench_pod-${c}_uid-${c}`);
    await mkdir(join(podDir, c), { recursive: true });
    await writeFile(join(podDir, c, '0.log'), data);
    out.push(podDir);
  }
  return out;
}

type Contender = 'hedge' | 'rsyslog';

async function runOne(who: Contender, files: Map<string, Buffer>, rx: Awaited<ReturnType<typeof frameCounter>>): Promise<Sample> {
  const dir = await mkdtemp(join(tmpdir(), `hedge-bench-logship-${who}-`));
  const pods = join(dir, 'pods');
  await mkdir(pods);
  const staged = await prepare(join(dir, 'staged'), files);
  let proc: ChildProcess;
  if (who === 'hedge') {
    proc = spawn(process.execPath, ['--max-semi-space-size=1', '--v8-pool-size=1', '--import', 'tsx', join(REPO, 'bench', 'lib', 'logship-child.ts'), pods, join(dir, 'state'), `syslog+tcp://127.0.0.1:${rx.port}`], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('the shipper ready', 60_000, () => out.includes('ready'));
  } else {
    await mkdir(join(dir, 'work'));
    const conf = join(dir, 'rsyslog.conf');
    await writeFile(conf, [
      `global(workDirectory="${join(dir, 'work')}")`,
      'module(load="imfile" mode="inotify")',
      `input(type="imfile" file="${pods}/*/*/*.log" tag="cri" addMetadata="on" ruleset="fwd")`,
      'ruleset(name="fwd") {',
      `  action(type="omfwd" target="127.0.0.1" port="${rx.port}" protocol="tcp" tcp_framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")`,
      '}',
      '',
    ].join('\n'));
    const pidFile = join(dir, 'rsyslogd.pid');
    proc = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', pidFile], { stdio: 'ignore' });
    await waitFor('rsyslogd started', 30_000, () => existsSync(pidFile));
    // imfile sets up its inotify watches after the pid file is written
    await new Promise((r) => setTimeout(r, 500));
  }
  try {
    const pid = proc.pid!;
    rx.reset();
    const idle = await procStat(pid);
    const t0 = performance.now();
    for (const d of staged) await rename(d, join(pods, d.slice(d.lastIndexOf('/') + 1)));
    await waitFor(`${who}: ${TOTAL} lines at the receiver`, 600_000, () => rx.count() >= TOTAL);
    const secs = (performance.now() - t0) / 1000;
    const end = await procStat(pid);
    return { linesPerSec: TOTAL / secs, cpuMs: end.cpuMs - idle.cpuMs, peakRssMiB: end.hwmKiB / 1024, idleRssMiB: idle.rssKiB / 1024 };
  } finally {
    await stop(proc);
    await rm(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function criWriterRate(linesPerWrite: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'hedge-bench-criw-'));
  try {
    const w = new CriLogWriter(join(dir, 'c', '0.log'));
    const line = `app line ${'x'.repeat(60)}\n`;
    const chunk = Buffer.from(line.repeat(linesPerWrite));
    const writes = Math.ceil(100_000 / linesPerWrite);
    const t0 = performance.now();
    for (let i = 0; i < writes; i++) w.write('stdout', chunk);
    return (writes * linesPerWrite) / ((performance.now() - t0) / 1000);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0 || !existsSync(RSYSLOGD) || !existsSync('/usr/lib/x86_64-linux-gnu/rsyslog/imfile.so')) {
    process.stdout.write('bench/logship: needs root and rsyslog with imfile (scripts/setup.sh)\n');
    return;
  }
  const files = new Map(Array.from({ length: CONTAINERS }, (_, i) => [`c${i}`, criFile(`c${i}`)]));
  const bytes = [...files.values()].reduce((a, b) => a + b.length, 0);
  const rx = await frameCounter();
  const samples: Record<Contender, Sample[]> = { hedge: [], rsyslog: [] };
  for (let r = 0; r < ROUNDS; r++) {
    // alternate who goes first, so neither always gets the quieter half of a round
    const order: Contender[] = r % 2 === 0 ? ['hedge', 'rsyslog'] : ['rsyslog', 'hedge'];
    for (const who of order) samples[who].push(await runOne(who, files, rx));
  }
  rx.server.close();

  const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  const med = (who: Contender, k: keyof Sample): number => median(samples[who].map((s) => s[k]));
  const rows: [string, (who: Contender) => number, number][] = [
    ['lines/s', (w) => med(w, 'linesPerSec'), 0],
    ['CPU ms (whole backlog)', (w) => med(w, 'cpuMs'), 0],
    ['CPU µs per line', (w) => (med(w, 'cpuMs') * 1000) / TOTAL, 2],
    ['peak RSS MiB', (w) => med(w, 'peakRssMiB'), 1],
    ['idle RSS MiB', (w) => med(w, 'idleRssMiB'), 1],
  ];
  const out: string[] = [];
  out.push(`# log shipping: ${fmt(TOTAL)} CRI lines (${CONTAINERS} containers, ${fmt(bytes / 1048576, 1)} MiB) to a TCP syslog receiver (octet-counted), median of ${ROUNDS} rounds`);
  out.push('');
  out.push('| metric | hedge LogShipper (syslog+tcp) | rsyslog imfile → omfwd | hedge / rsyslog |');
  out.push('| --- | ---: | ---: | ---: |');
  for (const [name, f, d] of rows) out.push(`| ${name} | ${fmt(f('hedge'), d)} | ${fmt(f('rsyslog'), d)} | ${(f('hedge') / f('rsyslog')).toFixed(2)} |`);
  out.push('');
  out.push('| CRI log writer (microVM host side, CriLogWriter) | lines/s |');
  out.push('| --- | ---: |');
  for (const n of [1, 100]) out.push(`| ${n} line(s) per guest write | ${fmt(median([await criWriterRate(n), await criWriterRate(n), await criWriterRate(n)]))} |`);
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
