/**
 * fio-style IO inside one microVM — a block device vs a 9p share of a host directory, same guest,
 * same run — beside runc and gVisor on the host. Labelled with the accelerator (TCG on PVM hosts,
 * where every guest instruction is emulated: compare the block/9p ratio, not absolute figures).
 *
 * The load is a tiny static C program (below; built with musl-gcc or gcc -static), run as the
 * container process of each runtime, one phase per run so caches can be dropped in between:
 *   seqwrite  1 MiB writes + fsync      seqread   1 MiB reads (cold cache)
 *   randwrite 4 KiB pwrite at random offsets + fsync   randread 4 KiB pread at random offsets (cold)
 * Targets:
 *   microvm block  an ext4 scratch disk hot-plugged (virtio-scsi) into the VM, like the rootfs disks
 *   microvm 9p     a host directory over virtio-9p (cache=none) in the same VM
 *   Caches are dropped in the guest and on the host before each read phase.
 *   runc / gVisor  a host directory bind-mounted into the container (gVisor's Sentry keeps its own
 *                  page cache, which the host cannot drop: its cold reads are warm)
 * Prints tables, asserts nothing. Needs root, qemu, Debian's linux-image, busybox-static, runc, runsc.
 * Run: node --import tsx bench/microvm-io.ts [file MiB=64] [random ops=2000]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { silentLogger } from '../src/lib/log.ts';
import { containerConfig, makeBusyboxRootfs, sandboxConfig } from '../src/agent/runtime/oci/test-support.ts';
import type { ContainerId, SandboxId } from '../src/agent/runtime/types.ts';
import { buildGuest } from '../src/agent/runtime/microvm/guest-artifacts.ts';
import { MicroVmRuntimeHandler } from '../src/agent/runtime/microvm/microvm-handler.ts';
import { QmpClient } from '../src/agent/runtime/microvm/qmp.ts';

const fileMiB = Number(process.argv[2] ?? 64);
const randOps = Number(process.argv[3] ?? 2000);
const PHASES = ['seqwrite', 'seqread', 'randwrite', 'randread'] as const;
type Phase = (typeof PHASES)[number];

const IOB_C = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
  if (argc < 5) return 2;
  const char *mode = argv[1], *path = argv[2];
  long mib = atol(argv[3]), ops = atol(argv[4]);
  long size = mib << 20;
  static char buf[1 << 20];
  memset(buf, 0x5a, sizeof buf);
  srand(42);
  double t0 = now(), bytes = 0; long n = 0;
  if (!strcmp(mode, "seqwrite")) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644); if (fd < 0) { perror("open"); return 1; }
    for (long off = 0; off < size; off += sizeof buf) { if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) { perror("write"); return 1; } bytes += sizeof buf; n++; }
    fsync(fd); close(fd);
  } else if (!strcmp(mode, "seqread")) {
    int fd = open(path, O_RDONLY); if (fd < 0) { perror("open"); return 1; }
    ssize_t r; while ((r = read(fd, buf, sizeof buf)) > 0) { bytes += r; n++; }
    close(fd);
  } else if (!strcmp(mode, "randwrite") || !strcmp(mode, "randread")) {
    int w = mode[4] == 'w';
    int fd = open(path, w ? O_WRONLY : O_RDONLY); if (fd < 0) { perror("open"); return 1; }
    long blocks = size / 4096;
    for (long i = 0; i < ops; i++) {
      off_t off = (off_t)(((unsigned long)rand() * 2654435761UL) % (unsigned long)blocks) * 4096;
      ssize_t r = w ? pwrite(fd, buf, 4096, off) : pread(fd, buf, 4096, off);
      if (r != 4096) { perror("io"); return 1; }
      bytes += 4096; n++;
    }
    if (w) fsync(fd);
    close(fd);
  } else return 2;
  double dt = now() - t0;
  printf("%s %.3f %.0f %ld\n", mode, dt, bytes, n);
  return 0;
}
`;

interface Result {
  seconds: number;
  bytes: number;
  ops: number;
}

function parseIob(out: string, phase: Phase): Result {
  const m = new RegExp(`^${phase} ([\\d.]+) (\\d+) (\\d+)$`, 'm').exec(out);
  if (!m) throw new Error(`no ${phase} result in: ${out.slice(0, 500)}`);
  return { seconds: Number(m[1]), bytes: Number(m[2]), ops: Number(m[3]) };
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string => r.map((c, i) => (c ?? '').padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return `${fmt(head)}\n${rows.map(fmt).join('\n')}\n`;
}

const fmt = (phase: Phase, r: Result | undefined): string => {
  if (!r) return 'n/a';
  return phase.startsWith('seq') ? `${(r.bytes / 1048576 / r.seconds).toFixed(1)} MiB/s` : `${Math.round(r.ops / r.seconds)} IOPS`;
};

const dropHostCaches = (): void => writeFileSync('/proc/sys/vm/drop_caches', '3');

const tmp = mkdtempSync(join(tmpdir(), 'hedge-bench-mvmio-'));
const results = new Map<string, Partial<Record<Phase, Result>>>();
try {
  // the load program, static so it runs in the busybox rootfs, the guest and gVisor alike
  const rootfs = makeBusyboxRootfs(join(tmp, 'rootfs'));
  for (const a of ['mount', 'mknod', 'mkdir', 'sync']) symlinkSync('busybox', join(rootfs, 'bin', a));
  writeFileSync(join(tmp, 'iob.c'), IOB_C);
  const cc = spawnSync('sh', ['-c', 'command -v musl-gcc']).status === 0 ? 'musl-gcc' : 'gcc';
  execFileSync(cc, ['-static', '-O2', '-o', join(rootfs, 'bin', 'iob'), join(tmp, 'iob.c')]);
  for (const d of ['mnt/blk', 'mnt/9p', 'data']) mkdirSync(join(rootfs, d), { recursive: true });
  const share = join(tmp, 'share9p');
  mkdirSync(share);
  chmodSync(share, 0o777);

  // ---- microVM: one VM, a scratch block disk and a 9p share ---------------------------------
  const guest = await buildGuest({ outRoot: join(tmpdir(), 'hedge-guest-cache'), signal: AbortSignal.timeout(300_000) });
  const h = new MicroVmRuntimeHandler({ stateDir: join(tmp, 'state'), guest, logger: silentLogger(), accelerator: 'auto', shares: [{ tag: 'bench9p', path: share }] });
  const accel = await h.detectAccelerator(AbortSignal.timeout(60_000));
  const sid = 'io' as SandboxId;
  const sig = (): AbortSignal => AbortSignal.timeout(600_000);
  // guest RAM well above the file size: the page cache must not be what limits the figures
  await h.createSandbox({ ...sandboxConfig({ id: sid, stateDir: join(tmp, 'pods', sid), cgroupParent: '' }), resources: { memoryBytes: (fileMiB * 2 + 256) << 20 } }, sig());
  const cid = 'io-c' as ContainerId;
  await h.createContainer(containerConfig({ id: cid, sandboxId: sid, rootfs, command: ['sleep', '100000'], logPath: join(tmp, 'logs', 'io.log') }), sig());
  await h.start(cid, sig());
  const sh = async (script: string): Promise<string> => {
    let out = '';
    const sink = new PassThrough();
    sink.on('data', (d: Buffer) => (out += d.toString()));
    const code = await h.exec(cid, { command: ['sh', '-c', script], tty: false, stdout: sink, stderr: sink, signal: sig() });
    if (code !== 0) throw new Error(`guest: ${script}: exit ${code}: ${out}`);
    return out;
  };
  const scratch = join(tmp, 'scratch.ext4');
  execFileSync('truncate', ['-s', `${fileMiB * 2 + 64}M`, scratch]);
  execFileSync('mkfs.ext4', ['-q', '-F', scratch]);
  const vm = (await h.vmInfo(sid))!;
  const q = await QmpClient.connect(vm.qmpSocket, sig());
  try {
    await q.execute('blockdev-add', { driver: 'raw', 'node-name': 'scratch', file: { driver: 'file', filename: scratch } }, sig());
    await q.execute('device_add', { driver: 'scsi-hd', id: 'sdscratch', bus: 'scsi0.0', drive: 'scratch', channel: 0, 'scsi-id': 200, lun: 0 }, sig());
  } finally {
    q.close();
  }
  await sh(
    'i=0; while [ ! -e /sys/bus/scsi/devices/*:0:200:0/block ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done; ' +
      'd=$(ls /sys/bus/scsi/devices/*:0:200:0/block); mm=$(cat /sys/block/$d/dev); ' +
      'mknod /dev/scratch b ${mm%:*} ${mm#*:}; mount -t ext4 /dev/scratch /mnt/blk; ' +
      'mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=524288 bench9p /mnt/9p',
  );
  const guestDrop = 'sync; echo 3 > /proc/sys/vm/drop_caches';
  const targets = [
    ['microvm block (ext4 on virtio-scsi)', '/mnt/blk'],
    ['microvm 9p (virtio-9p, cache=none)', '/mnt/9p'],
    // the container's own writable layer (overlay upper: the sandbox disk, or guest tmpfs in older builds)
    ['microvm writable layer (container /data)', '/data'],
  ] as const;
  for (const [label, dir] of targets) {
    const r: Partial<Record<Phase, Result>> = {};
    for (const p of PHASES) {
      if (p.endsWith('read')) {
        await sh(guestDrop);
        // the 9p server and the disk image read through the host page cache: cold there too, as for runc
        dropHostCaches();
      }
      r[p] = parseIob(await sh(`iob ${p} ${dir}/f ${fileMiB} ${randOps}`), p);
    }
    results.set(`${label}|${accel}`, r);
  }
  await h.removeSandbox(sid, sig());

  // ---- runc and gVisor on the host: the same program on a bind-mounted host directory ----------
  const hostDir = join(tmp, 'hostdir');
  mkdirSync(hostDir);
  const bundle = join(tmp, 'bundle');
  mkdirSync(bundle);
  execFileSync('runc', ['spec', '-b', bundle]);
  const baseSpec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
    process: { terminal: boolean; args: string[] };
    root: { path: string; readonly: boolean };
    mounts: { destination: string; type: string; source: string; options: string[] }[];
    linux: { namespaces: { type: string }[] };
  };
  baseSpec.process.terminal = false;
  baseSpec.root = { path: rootfs, readonly: true };
  baseSpec.mounts.push({ destination: '/data', type: 'bind', source: hostDir, options: ['rbind', 'rw'] });
  const runOci = (runtime: 'runc' | 'runsc', p: Phase): string => {
    const spec = structuredClone(baseSpec);
    spec.process.args = ['iob', p, '/data/f', String(fileMiB), String(randOps)];
    if (runtime === 'runsc') spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'network');
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    const id = `hedge-bench-io-${process.pid}-${runtime}-${p}`;
    const args = runtime === 'runc'
      ? ['--root', join(tmp, 'runc-root'), 'run', '-b', bundle, id]
      : ['--root', join(tmp, 'runsc-root'), '--network=host', '--platform=ptrace', 'run', '--bundle', bundle, id];
    const r = spawnSync(runtime, args, { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) throw new Error(`${runtime} ${p}: exit ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  for (const runtime of ['runc', 'runsc'] as const) {
    if (spawnSync('sh', ['-c', `command -v ${runtime}`]).status !== 0) continue;
    const r: Partial<Record<Phase, Result>> = {};
    try {
      for (const p of PHASES) {
        if (p.endsWith('read')) dropHostCaches();
        r[p] = parseIob(runOci(runtime, p), p);
      }
    } catch (err) {
      process.stderr.write(`${runtime}: ${(err as Error).message}\n`);
    }
    results.set(`${runtime === 'runc' ? 'runc (host dir bind mount)' : 'gVisor (host dir via gofer, ptrace)'}|host`, r);
    rmSync(join(hostDir, 'f'), { force: true });
  }

  process.stdout.write(`\nIO: ${fileMiB} MiB file, ${randOps} random 4 KiB ops, caches dropped before reads; microVM accelerator: ${accel}${accel === 'tcg' ? ' (software emulation: every guest instruction and device access is emulated)' : ''}\n\n`);
  const rows = [...results].map(([k, r]) => {
    const [label, acc] = k.split('|');
    return [label ?? '', acc ?? '', ...PHASES.map((p) => fmt(p, r[p]))];
  });
  process.stdout.write(table(['target', 'accel', ...PHASES], rows));
  const blk = results.get(`microvm block (ext4 on virtio-scsi)|${accel}`);
  const p9 = results.get(`microvm 9p (virtio-9p, cache=none)|${accel}`);
  if (blk && p9) {
    const ratio = (p: Phase): string => {
      const a = blk[p];
      const b = p9[p];
      return a && b ? `${(b.seconds / a.seconds).toFixed(1)}x` : 'n/a';
    };
    process.stdout.write(`\nblock vs 9p in the same guest (9p time / block time; >1 = block faster)\n\n`);
    process.stdout.write(table(['', ...PHASES], [['block speed-up', ...PHASES.map(ratio)]]));
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
