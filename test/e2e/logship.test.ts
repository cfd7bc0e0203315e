/**
 * Log shipping against Debian's rsyslog (RELP via imrelp, plain TCP via imtcp) and a Loki-push
 * receiver: 10,000 lines/s from three containers with rotation, across a collector outage and a
 * shipper restart. Every line must arrive exactly once and in order per container.
 */
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/lib/log.ts';
import { LogShipper, createSink, parseSinkUrl } from '../../src/logship/index.ts';
import { freePort, lokiReceiver, Rsyslog, rsyslogSkipReason, until } from './logship-peers.ts';

const skip = rsyslogSkipReason() ?? false;

describe('log shipping to rsyslog and Loki', { skip }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-logship-e2e-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('10,000 lines/s from three containers with rotation, a collector outage and a shipper restart: every line once, in order', async () => {
    const rs = new Rsyslog(dir, await freePort(), await freePort());
    await rs.start();
    const loki = await lokiReceiver();
    const pods = join(dir, 'pods');
    const containers = ['web', 'api', 'db'];
    const logDir = (c: string) => join(pods, `demo_${c}-pod_uid-${c}`, c);
    for (const c of containers) await mkdir(logDir(c), { recursive: true });

    const sinkUrls = [`syslog+relp://127.0.0.1:${rs.relpPort}`, `loki+http://${loki.url.slice('http://'.length)}`];
    const open = () =>
      LogShipper.open({
        nodeName: 'edge-1',
        podLogsDir: pods,
        stateDir: join(dir, 'state'),
        sinks: sinkUrls.map((u) => createSink(parseSinkUrl(u))),
        bufferBytes: 256 << 20,
        pollMs: 50,
        logger: silentLogger(),
      });
    let shipper = await open();
    let ac = new AbortController();
    let running = shipper.run(ac.signal);

    // the writer: 10,000 lines/s in 10 ms ticks, rotating each file past 1 MiB (kubelet-style names,
    // and the rotator's deletion of all but the newest two rotated files)
    const written = new Map(containers.map((c) => [c, 0]));
    let rotations = 0;
    let stamp = 0;
    const rotate = async (c: string): Promise<void> => {
      const cur = join(logDir(c), '0.log');
      const st = await stat(cur).catch(() => undefined);
      if (st === undefined || st.size < 1 << 20) return;
      await rename(cur, `${cur}.20261203-08${String(Math.floor(stamp / 60)).padStart(2, '0')}${String(stamp % 60).padStart(2, '0')}`);
      stamp++;
      rotations++;
      const rotated = (await readdir(logDir(c))).filter((n) => n !== '0.log').sort();
      for (const old of rotated.slice(0, -2)) await rm(join(logDir(c), old));
    };
    const DURATION_MS = 6_000;
    const started = Date.now();
    const writer = (async () => {
      let tick = 0;
      while (Date.now() - started < DURATION_MS) {
        const due = Math.floor(((Date.now() - started) / 1000) * 10_000);
        const total = [...written.values()].reduce((a, b) => a + b, 0);
        for (let n = total; n < due; ) {
          for (const c of containers) {
            const from = written.get(c)!;
            const k = Math.min(200, Math.ceil((due - n) / containers.length));
            let chunk = '';
            for (let i = 0; i < k; i++) chunk += `${new Date().toISOString()} ${i % 5 === 0 ? 'stderr' : 'stdout'} F ${c} line ${from + i} ${'x'.repeat(60)}\n`;
            await appendFile(join(logDir(c), '0.log'), chunk);
            written.set(c, from + k);
            n += k;
          }
        }
        if (++tick % 10 === 0) for (const c of containers) await rotate(c);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    // an outage of the syslog collector, then a shipper restart, while lines keep coming
    await new Promise((r) => setTimeout(r, 1_500));
    await rs.stop();
    await new Promise((r) => setTimeout(r, 2_000));
    await rs.start();
    await new Promise((r) => setTimeout(r, 500));
    ac.abort();
    await running;
    shipper = await open();
    ac = new AbortController();
    running = shipper.run(ac.signal);
    await writer;
    const total = [...written.values()].reduce((a, b) => a + b, 0);
    const writeSecs = (Date.now() - started) / 1000;

    const syslogLines = async (): Promise<Map<string, number[]>> => {
      const out = new Map<string, number[]>(containers.map((c) => [c, []]));
      const text = await readFile(rs.out, 'utf8').catch(() => '');
      for (const line of text.split('\n')) {
        const m = / (\w+) line (\d+) x+$/.exec(line);
        if (m) out.get(m[1]!)!.push(Number(m[2]));
      }
      return out;
    };
    const count = (m: Map<string, unknown[]>) => [...m.values()].reduce((a, l) => a + l.length, 0);
    /** per container, merged from its stdout and stderr streams by line number, after checking each stream's own order */
    const lokiNums = () =>
      new Map(
        containers.map((c) => {
          const merged: number[] = [];
          for (const stream of ['stdout', 'stderr']) {
            const nums = (loki.streams.get(`${c}/${stream}`) ?? []).map((e) => Number(/ line (\d+) /.exec(e.line)![1]));
            for (let i = 1; i < nums.length; i++) assert.ok(nums[i]! > nums[i - 1]!, `Loki ${c}/${stream} out of order at ${i}: ${nums[i - 1]} then ${nums[i]}`);
            merged.push(...nums);
          }
          return [c, merged.sort((a, b) => a - b)];
        }),
      );
    await until('every line at both collectors', 120_000, async () => count(await syslogLines()) >= total && count(lokiNums()) >= total, () => `syslog ${count(new Map())} loki ${count(lokiNums())} of ${total}`);
    const caughtUp = (Date.now() - started) / 1000;
    ac.abort();
    await running;

    for (const [name, got] of [['rsyslog (RELP)', await syslogLines()], ['Loki', lokiNums()]] as const) {
      for (const c of containers) {
        const nums = got.get(c)!;
        assert.equal(nums.length, written.get(c), `${name} ${c}: ${nums.length} lines for ${written.get(c)} written`);
        assert.deepEqual(nums, Array.from({ length: written.get(c)! }, (_, i) => i), `${name} ${c}: every line once, in order`);
      }
    }
    const stats = shipper.stats();
    for (const u of sinkUrls) assert.equal(stats[u]!.dropped, 0, `${u} dropped lines within the bound`);
    process.stdout.write(`# logship: ${total} lines in ${writeSecs.toFixed(1)} s (${Math.round(total / writeSecs)}/s) from ${containers.length} containers, ${rotations} rotations, collector outage 2 s + shipper restart; all delivered to rsyslog (RELP) and Loki exactly once, in order, ${caughtUp.toFixed(1)} s after the start\n`);
    await rs.stop();
    await loki.close();
  });

  it('plain TCP syslog (octet-counted RFC 5424) reaches rsyslog with the labels as structured data', async () => {
    const rs = new Rsyslog(await mkdtemp(join(dir, 'tcp-')), await freePort(), await freePort());
    await rs.start();
    const pods = join(rs.dir, 'pods');
    const d = join(pods, 'ns1_p1_u1', 'c1');
    await mkdir(d, { recursive: true });
    let text = '';
    for (let i = 0; i < 1000; i++) text += `2026-12-03T08:00:00.123456789Z stdout F msg ${i} "quoted" ]\n`;
    await writeFile(join(d, '0.log'), text);
    const shipper = await LogShipper.open({ nodeName: 'edge-1', podLogsDir: pods, stateDir: join(rs.dir, 'state'), sinks: [createSink(parseSinkUrl(`syslog+tcp://127.0.0.1:${rs.tcpPort}`))], bufferBytes: 1 << 20, pollMs: 50, logger: silentLogger() });
    const ac = new AbortController();
    const running = shipper.run(ac.signal);
    await until('1,000 lines', 30_000, async () => (await readFile(rs.out, 'utf8').catch(() => '')).split('\n').filter((l) => l.includes(' msg ')).length >= 1000);
    ac.abort();
    await running;
    const lines = (await readFile(rs.out, 'utf8')).split('\n').filter((l) => l.includes(' msg '));
    assert.equal(lines.length, 1000);
    assert.match(lines[0]!, /^\[hedge@32473 node="edge-1" namespace="ns1" pod="p1" container="c1" stream="stdout" uid="u1" id="[\d-]+:\d+"\] msg 0 "quoted" \]$/);
    await rs.stop();
  });
});
