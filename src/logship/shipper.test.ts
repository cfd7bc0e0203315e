import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../lib/log.ts';
import { formatSyslog, octetCounted, syslogTimestamp } from './syslog-format.ts';
import { unixNanos } from './loki-sink.ts';
import { Registry } from 'prom-client';
import { registerShipperMetrics } from './metrics.ts';
import { LogShipper, podDirLabels, type DroppedLines } from './shipper.ts';
import { parseSinkUrl } from './sink-url.ts';
import type { LogRecord, LogSink, SendResult } from './types.ts';

/** An in-memory collector: records what it accepted; can be down or refuse. */
class MemorySink implements LogSink {
  readonly delivery = 'acknowledged' as const;
  readonly got: LogRecord[] = [];
  down = false;
  refuse = false;
  /** accept at most this many records per send (partial acknowledgement) */
  perSend = Infinity;
  constructor(readonly name: string) {}
  async send(batch: readonly LogRecord[]): Promise<SendResult> {
    if (this.down) return { delivered: 0, error: new Error('down') };
    if (this.refuse) return { delivered: 0, rejected: batch.length, error: new Error('400') };
    const n = Math.min(batch.length, this.perSend);
    this.got.push(...batch.slice(0, n));
    return n < batch.length ? { delivered: n, error: new Error('partial') } : { delivered: n };
  }
  async close(): Promise<void> {}
}

const cri = (stream: 'stdout' | 'stderr', tag: 'F' | 'P', msg: string): string => `${new Date().toISOString().replace('Z', '123456Z')} ${stream} ${tag} ${msg}\n`;

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('LogShipper', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hedge-logship-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  const layout = async (name: string) => {
    const pods = join(root, name, 'pods');
    const dirA = join(pods, 'default_web_0a1b-2c', 'nginx');
    const dirB = join(pods, 'kube-system_dns_ffee', 'dns');
    await mkdir(dirA, { recursive: true });
    await mkdir(dirB, { recursive: true });
    return { pods, state: join(root, name, 'state'), a: join(dirA, '0.log'), b: join(dirB, '0.log') };
  };

  it('ships every container in order, joins partial lines, follows rotation and resumes after a restart', async () => {
    const l = await layout('order');
    const sink = new MemorySink('mem');
    const start = async () => {
      const s = await LogShipper.open({ nodeName: 'n1', podLogsDir: l.pods, stateDir: l.state, sinks: [sink], bufferBytes: 1 << 20, pollMs: 10, logger: silentLogger() });
      const ac = new AbortController();
      return { ac, done: s.run(ac.signal), s };
    };
    let run = await start();
    for (let i = 0; i < 50; i++) await appendFile(l.a, cri('stdout', 'F', `a${i}`));
    await appendFile(l.b, cri('stderr', 'P', 'he') + cri('stderr', 'P', 'll') + cri('stderr', 'F', 'o'));
    await until('first lines', () => sink.got.length >= 51);
    // rotate like the kubelet: rename, a few more lines land in the old inode, then the new file
    await rename(l.a, `${l.a}.20261203-080000`);
    for (let i = 50; i < 60; i++) await appendFile(`${l.a}.20261203-080000`, cri('stdout', 'F', `a${i}`));
    for (let i = 60; i < 80; i++) await appendFile(l.a, cri('stdout', 'F', `a${i}`));
    await until('rotated lines', () => sink.got.filter((r) => r.labels.container === 'nginx').length >= 80);
    // restart: a new shipper on the same state resends nothing and continues
    run.ac.abort();
    await run.done;
    for (let i = 80; i < 100; i++) await appendFile(l.a, cri('stdout', 'F', `a${i}`));
    run = await start();
    await until('lines after restart', () => sink.got.filter((r) => r.labels.container === 'nginx').length >= 100);
    await new Promise((r) => setTimeout(r, 100));
    run.ac.abort();
    await run.done;

    const a = sink.got.filter((r) => r.labels.container === 'nginx').map((r) => r.message);
    assert.deepEqual(a, Array.from({ length: 100 }, (_, i) => `a${i}`));
    const b = sink.got.filter((r) => r.labels.container === 'dns');
    assert.deepEqual(b.map((r) => [r.message, r.stream]), [['hello', 'stderr']]);
    assert.deepEqual({ ...b[0]!.labels }, { node: 'n1', namespace: 'kube-system', pod: 'dns', podUid: 'ffee', container: 'dns', restart: 0 });
    assert.equal(new Set(sink.got.map((r) => r.id)).size, sink.got.length, 'record ids are unique');
    assert.equal(run.s.stats().mem!.delivered, 101);
  });

  it('a sink that is down holds its lines (even rotated away and deleted) and gets them later; another sink is not held back', async () => {
    const l = await layout('outage');
    const down = new MemorySink('down');
    const up = new MemorySink('up');
    down.down = true;
    down.perSend = 7; // and then acknowledges in small pieces
    const s = await LogShipper.open({ nodeName: 'n1', podLogsDir: l.pods, stateDir: l.state, sinks: [down, up], bufferBytes: 1 << 20, pollMs: 10, logger: silentLogger() });
    const ac = new AbortController();
    const done = s.run(ac.signal);
    for (let i = 0; i < 30; i++) await appendFile(l.a, cri('stdout', 'F', `x${i}`));
    await until('the healthy sink', () => up.got.length === 30);
    await rename(l.a, `${l.a}.20261203-080000`);
    await until('the shipper holds the rotated file', async () => (await readdir(join(l.state, 'held'))).length >= 1);
    await new Promise((r) => setTimeout(r, 50));
    await rm(`${l.a}.20261203-080000`); // the rotator deletes it before the down sink got anything
    for (let i = 30; i < 40; i++) await appendFile(l.a, cri('stdout', 'F', `x${i}`));
    await until('the healthy sink again', () => up.got.length === 40);
    assert.equal(down.got.length, 0);
    down.down = false;
    await until('the recovered sink', () => down.got.length === 40, 20_000);
    assert.deepEqual(down.got.map((r) => r.message), up.got.map((r) => r.message));
    await until('the held file released', async () => (await readdir(join(l.state, 'held'))).length === 1);
    ac.abort();
    await done;
    assert.equal(s.stats().down!.dropped, 0);
  });

  it('counts exactly what the buffer bound drops, and what a collector refuses; reports both and serves them as metrics', async () => {
    const l = await layout('bound');
    const sink = new MemorySink('s');
    sink.down = true;
    const reported: DroppedLines[] = [];
    const s = await LogShipper.open({ nodeName: 'n1', podLogsDir: l.pods, stateDir: l.state, sinks: [sink], bufferBytes: 100, pollMs: 10, logger: silentLogger(), onDropped: (d) => reported.push(d) });
    const registry = new Registry();
    registerShipperMetrics(s, registry);
    const ac = new AbortController();
    const done = s.run(ac.signal);
    for (let i = 0; i < 25; i++) await appendFile(l.a, cri('stdout', 'F', `y${i}`));
    await until('held', async () => (await readdir(join(l.state, 'held'))).length >= 1);
    await rm(join(l.pods, 'default_web_0a1b-2c'), { recursive: true }); // the pod is deleted
    await until('dropped past the bound', () => s.stats().s!.dropped === 25);
    sink.down = false;
    sink.refuse = true;
    for (let i = 0; i < 5; i++) await appendFile(l.b, cri('stdout', 'F', `z${i}`));
    await until('refused lines counted', () => s.stats().s!.dropped === 30);
    ac.abort();
    await done;
    assert.equal(sink.got.length, 0);
    assert.deepEqual(
      reported.map((d) => [d.sink, d.labels.pod, d.lines, d.reason]),
      [['s', 'web', 25, 'buffer-bound'], ['s', 'dns', 5, 'rejected']],
    );
    const text = await registry.metrics();
    assert.match(text, /^hedge_logship_lines_dropped_total\{sink="s"\} 30$/m);
    assert.match(text, /^hedge_logship_lines_delivered_total\{sink="s"\} 0$/m);
    assert.match(text, /^hedge_logship_buffer_limit_bytes 100$/m);
    // the collector answered (it refused): reachable
    assert.match(text, /^hedge_logship_sink_up\{sink="s"\} 1$/m);
  });
});

describe('log record formats', () => {
  const rec: LogRecord = {
    labels: { node: 'edge-1', namespace: 'demo', pod: 'web-1', podUid: 'u1', container: 'nginx', restart: 0 },
    stream: 'stderr',
    rawTime: '2026-12-03T08:00:01.123456789Z',
    message: 'GET / "quoted" ]',
    id: '1-2:345',
  };

  it('formats RFC 5424 with the labels as structured data, octet-counted', () => {
    const msg = formatSyslog({ ...rec, labels: { ...rec.labels, pod: 'we"b]' } });
    assert.equal(
      msg,
      '<11>1 2026-12-03T08:00:01.123456Z edge-1 nginx we"b] stderr [hedge@32473 node="edge-1" namespace="demo" pod="we\\"b\\]" container="nginx" stream="stderr" uid="u1" id="1-2:345"] GET / "quoted" ]',
    );
    const framed = octetCounted('héllo');
    assert.equal(framed.toString(), '6 héllo');
    assert.equal(syslogTimestamp('2026-12-03T08:00:01Z'), '2026-12-03T08:00:01Z');
  });

  it('turns CRI timestamps into exact Unix nanoseconds for Loki', () => {
    assert.equal(unixNanos(rec.rawTime), '1796284801123456789');
    assert.equal(unixNanos('2026-12-03T08:00:01Z'), '1796284801000000000');
    assert.equal(unixNanos('2026-12-03T09:00:01.5+01:00'), '1796284801500000000');
  });

  it('parses pod directories and sink URLs, naming what is wrong', () => {
    assert.deepEqual(podDirLabels('kube-system_coredns-7d_8f9a-11'), { namespace: 'kube-system', pod: 'coredns-7d', podUid: '8f9a-11' });
    assert.equal(podDirLabels('junk'), undefined);
    assert.deepEqual(parseSinkUrl('syslog+tls://logs.example:6514?ca=/etc/ca.pem'), { scheme: 'syslog+tls', host: 'logs.example', port: 6514, caFile: '/etc/ca.pem', url: 'syslog+tls://logs.example:6514?ca=/etc/ca.pem' });
    assert.throws(() => parseSinkUrl('syslog://h:514'), /--log-sink syslog:\/\/h:514: unknown scheme "syslog"/);
    assert.throws(() => parseSinkUrl('syslog+tcp://h'), /no port/);
    assert.throws(() => parseSinkUrl('loki+http://h:3100/x'), /a path is not allowed/);
    assert.throws(() => parseSinkUrl('syslog+tcp://h:1?ca=x'), /unknown parameter "ca"/);
    assert.throws(() => parseSinkUrl('nope'), /not a URL/);
  });
});
