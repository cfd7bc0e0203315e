/**
 * Issue 11's log-shipping check on a real `hedge node`: pods in runc, gVisor and a microVM (skipped
 * with its reason where qemu or a guest cannot run) write numbered lines at ~10,000 lines/s in all;
 * the node ships them (`--log-sink`) to Debian's rsyslog over RELP and to a Loki-push receiver,
 * while the agent rotates the CRI logs, rsyslog is stopped and started again, and `hedge node`
 * itself is restarted with the pods left running. Every line must reach both sinks exactly once,
 * in order per container and stream, with its node/namespace/pod/container/stream labels, and the
 * node's dropped-lines counter (within --log-buffer-bytes) must say 0.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { appendFile, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Event, Node, Pod } from 'kubernetes-types/core/v1.js';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { freePort, lokiReceiver, Rsyslog, rsyslogSkipReason, type LokiReceiver } from './logship-peers.ts';
import { edgeNodeSkipReason, microvmSkipReason, nodeServerGet, type HedgeNode } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? rsyslogSkipReason() ?? false;
const mvmSkip = microvmSkipReason();

/** seconds each writer writes for; the events happen while all of them write */
const DURATION_S = 24;
const TOTAL_RATE = 10_000;
/** the stderr writer's share of TOTAL_RATE */
const ERR_RATE = 1_000;
/** lines/s of the gVisor and the microVM writer */
const SLOW_RATE = 1_000;
const NS = 'ship';
/** a file to append progress to while waiting for the sinks to catch up (debugging a slow run) */
const trace = process.env.LOGSHIP_E2E_TRACE;

interface Writer {
  pod: string;
  container: string;
  runtime: 'runc' | 'gvisor' | 'microvm';
  stream: 'stdout' | 'stderr';
  lines: number;
}

/** `lines` numbered lines, `perTick` per write then 0.1 s of sleep, then idle (the container keeps running) */
function awkWriter(w: Writer, perTick: number): string[] {
  const prog = `BEGIN { pad = sprintf("%060d", 0); gsub(/0/, "x", pad); for (i = 0; i < n; i++) { printf "%s line %d %s\\n", c, i, pad; if (i % b == b - 1) { fflush(); system("sleep 0.1") } } fflush(); system("exec sleep 100000") }`;
  return ['/bin/busybox', 'awk', '-v', `n=${w.lines}`, '-v', `b=${perTick}`, '-v', `c=${w.container}`, prog];
}

/**
 * The same lines from sh builtins only, paced by `read -t` on a fifo nobody writes: under gVisor's
 * ptrace platform a fork+exec per tick (awk's system("sleep")) takes about a second.
 */
function shPacedWriter(w: Writer, perTick: number): string[] {
  const pad = 'x'.repeat(60);
  return ['sh', '-c', `/bin/busybox mkfifo /tmp/tick && exec 3<>/tmp/tick; i=0; while [ $i -lt ${w.lines} ]; do echo "${w.container} line $i ${pad}"; i=$((i+1)); [ $((i % ${perTick})) -eq 0 ] && read -t 0.1 x <&3; done; exec sleep 100000`];
}

function shWriter(w: Writer, perTick: number): string[] {
  const pad = 'x'.repeat(60);
  return ['sh', '-c', `i=0; while [ $i -lt ${w.lines} ]; do echo "${w.container} line $i ${pad}" >&2; i=$((i+1)); [ $((i % ${perTick})) -eq 0 ] && sleep 0.1; done; exec sleep 100000`];
}

/** `[hedge@32473 k="v" ...] MSG` as rsyslog's `%structured-data% %msg%` writes it */
function parseSyslogLine(line: string): { sd: Record<string, string>; msg: string } | undefined {
  const m = /^\[hedge@32473((?: \w+="(?:[^"\\]|\\.)*")*)\] (.*)$/.exec(line);
  if (!m) return undefined;
  const sd: Record<string, string> = {};
  for (const p of m[1]!.matchAll(/ (\w+)="((?:[^"\\]|\\.)*)"/g)) sd[p[1]!] = p[2]!.replace(/\\(.)/g, '$1');
  return { sd, msg: m[2]! };
}

describe('log shipping from real containers on a hedge node to rsyslog and Loki', { skip, timeout: 420_000 }, () => {
  let stack: EdgeStack | undefined;
  let node: HedgeNode;
  let rs: Rsyslog;
  let loki: LokiReceiver;
  const nodeName = `logship-${process.pid}`;
  let nodeGet: (path: string) => Promise<{ status: number; body: string }>;

  before(async () => {
    stack = await startEdgeStack({ nodes: [] });
    rs = new Rsyslog(stack.tmp, await freePort(), await freePort());
    await rs.start();
    loki = await lokiReceiver();
    const config = join(stack.tmp, 'node.yaml');
    await writeFile(config, `guestDir: ${join(tmpdir(), 'hedge-guest-cache')}\nmicrovmAccelerator: auto\n`);
    node = await stack.addNode({
      name: nodeName,
      runtimes: mvmSkip ? ['runc', 'gvisor'] : ['runc', 'gvisor', 'microvm'],
      extraArgs: [
        '--config', config,
        '--log-sink', `syslog+relp://127.0.0.1:${rs.relpPort}`,
        '--log-sink', `loki+http://${loki.url.slice('http://'.length)}`,
        '--log-buffer-bytes', '512Mi',
        // rotation during the run: the agent checks every 10 s, a writer fills 1 MiB in ~3 s
        '--container-log-max-size', '1Mi',
        '--container-log-max-files', '3',
      ],
    });
    const pki = join(stack.server.dataDir, 'pki');
    const [cert, key] = await Promise.all(['admin.crt', 'admin.key'].map((f) => readFile(join(pki, f), 'utf8')));
    nodeGet = async (path) => {
      // the node's serving certificate is from a throwaway CA: pin it; its port changes on restart
      const pinned = new X509Certificate(await readFile(join(node.dataDir, 'pki', 'node-server.crt'))).fingerprint256;
      const n = (await stack!.server.api('GET', `/api/v1/nodes/${nodeName}`)).body as Node;
      return nodeServerGet({ port: n.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 0, path, cert, key, pinned });
    };
  });

  after(async () => {
    await stack?.close();
    await rs?.stop();
    await loki?.close();
  });

  it(`~${TOTAL_RATE} lines/s from runc, gVisor${mvmSkip ? '' : ' and microVM'} pods across rotation, an rsyslog outage and a node restart: every line once, in order, labelled`, async (t) => {
    if (mvmSkip) t.diagnostic(`microVM part skipped: ${mvmSkip}`);
    const s = stack!;
    let lastMetrics = '';
    const explain = (): string =>
      `${s.explain()}\nnode's log shipper said:\n${node.output().split('\n').filter((l) => l.includes('"component":"logship"')).slice(-12).map((l) => l.slice(0, 600)).join('\n')}\n` +
      `${lastMetrics.split('\n').filter((l) => l.startsWith('hedge_logship')).join('\n')}\nrsyslogd ${rs.proc?.exitCode === null ? 'running' : `exited ${rs.proc?.exitCode}`}; ` +
      `rsyslog lines: ${syslogCount}; Loki: ${loki.count()} (${writers.map((w) => `${w.container} ${lokiOf(w)}/${w.lines}`).join(', ')})`;
    const mains: Writer['runtime'][] = mvmSkip ? ['runc', 'gvisor'] : ['runc', 'gvisor', 'microvm'];
    // gVisor (ptrace) and the microVM (TCG here) cannot write 3,000 lines/s each on a busy 2-core
    // host; runc takes the rest of the combined rate
    const rateOf = (r: Writer['runtime']): number => (r === 'runc' ? TOTAL_RATE - ERR_RATE - SLOW_RATE * (mains.length - 1) : SLOW_RATE);
    const writers: Writer[] = [
      ...mains.map((runtime): Writer => ({ pod: `w-${runtime}`, container: `app-${runtime}`, runtime, stream: 'stdout', lines: rateOf(runtime) * DURATION_S })),
      { pod: 'w-runc', container: 'err-runc', runtime: 'runc', stream: 'stderr', lines: ERR_RATE * DURATION_S },
    ];
    const api = async (method: string, path: string, body?: unknown): Promise<unknown> => {
      const r = await s.server.api(method, path, body);
      assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };
    await api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    const podOf = (runtime: Writer['runtime']): Pod => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `w-${runtime}`, namespace: NS },
      spec: {
        runtimeClassName: runtime,
        terminationGracePeriodSeconds: 1,
        containers: writers
          .filter((w) => w.runtime === runtime)
          .map((w) => ({ name: w.container, image: s.busyboxImage, command: w.stream === 'stderr' ? shWriter(w, ERR_RATE / 10) : w.runtime === 'gvisor' ? shPacedWriter(w, rateOf(w.runtime) / 10) : awkWriter(w, rateOf(w.runtime) / 10) })),
      },
    });
    const running = (name: string, ms: number): Promise<Pod> =>
      waitUntil(`${name} Running`, ms, async () => {
        const p = (await s.server.api('GET', `/api/v1/namespaces/${NS}/pods/${name}`)).body as Pod;
        return p.status?.phase === 'Running' && p.status.containerStatuses?.every((c) => c.state?.running) ? p : undefined;
      }, explain);
    // the microVM boots slowest (TCG here): started first so all writers overlap
    if (!mvmSkip) {
      await api('POST', `/api/v1/namespaces/${NS}/pods`, podOf('microvm'));
      await running('w-microvm', 120_000);
    }
    for (const r of ['runc', 'gvisor'] as const) await api('POST', `/api/v1/namespaces/${NS}/pods`, podOf(r));
    const before = new Map<string, Pod>();
    for (const r of mains) before.set(`w-${r}`, await running(`w-${r}`, 90_000));
    const started = Date.now();

    // rsyslog's output, read incrementally (the file grows to tens of MiB)
    const sysParsed: { sd: Record<string, string>; msg: string }[] = [];
    let sysOffset = 0;
    let sysRest = '';
    let syslogCount = 0;
    const syslogLines = async (): Promise<{ sd: Record<string, string>; msg: string }[]> => {
      const fh = await open(rs.out, 'r').catch(() => undefined);
      if (fh === undefined) return sysParsed;
      try {
        for (;;) {
          const buf = Buffer.alloc(4 << 20);
          const { bytesRead } = await fh.read(buf, 0, buf.length, sysOffset);
          if (bytesRead === 0) break;
          sysOffset += bytesRead;
          const lines = (sysRest + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
          sysRest = lines.pop()!;
          for (const l of lines) if (l !== '') sysParsed.push(parseSyslogLine(l) ?? { sd: {}, msg: l });
        }
      } finally {
        await fh.close();
      }
      syslogCount = sysParsed.length;
      return sysParsed;
    };
    const lokiOf = (w: Writer): number => loki.streams.get(`${w.container}/${w.stream}`)?.length ?? 0;
    const metrics = async (): Promise<string> => {
      const r = await nodeGet('/metrics');
      assert.equal(r.status, 200, r.body);
      lastMetrics = r.body;
      return r.body;
    };
    const metric = (text: string, name: string, sink: string): number | undefined => {
      const m = new RegExp(`^${name}\\{sink="${sink.replace(/[.+?*()[\]\\/]/g, '\\$&')}"\\} (\\S+)$`, 'm').exec(text);
      return m ? Number(m[1]) : undefined;
    };
    const relpSink = `syslog+relp://127.0.0.1:${rs.relpPort}`;
    const lokiSink = `loki+http://${loki.url.slice('http://'.length)}`;

    // every writer is shipping
    await waitUntil('every writer at Loki', 60_000, async () => (writers.every((w) => lokiOf(w) > 0) ? true : undefined), explain);
    // an rsyslog outage: the RELP sink reports down on /metrics, Loki keeps getting lines
    await rs.stop();
    const lokiAtStop = loki.count();
    await waitUntil('the RELP sink reported down', 30_000, async () => (metric(await metrics(), 'hedge_logship_sink_up', relpSink) === 0 ? true : undefined), explain);
    await waitUntil('Loki served during the outage', 30_000, async () => (loki.count() > lokiAtStop + TOTAL_RATE * 3 ? true : undefined), explain);
    await rs.start();
    const syslogAtRestart = (await syslogLines()).length;
    await waitUntil('rsyslog backfilled', 30_000, async () => ((await syslogLines()).length > syslogAtRestart + TOTAL_RATE ? true : undefined), explain);
    // the shipper restarts with the node; the pods keep running and writing meanwhile
    await node.stop();
    const lokiAtNodeStop = loki.count();
    // where each writer's stream was when the node went down (the microVM's must be mid-stream for its restart path to count)
    const atStop = writers.map((w) => `${w.container} ${lokiOf(w)}/${w.lines}`).join(', ');
    await node.start();
    const restartedAt = (Date.now() - started) / 1000;
    await waitUntil('shipping after the node restart', 30_000, async () => (loki.count() > lokiAtNodeStop ? true : undefined), explain);

    // then all of it, everywhere
    const total = writers.reduce((a, w) => a + w.lines, 0);
    const sysOf = (w: Writer): number => sysParsed.filter((l) => l.sd.container === w.container).length;
    // the microVM writer is slow under load (TCG), and its output waits in the guest while the node
    // restarts (the writer blocks when the guest's unacknowledged buffer is full): 180 s
    await waitUntil(`every line at both sinks`, 180_000, async () => {
      await syslogLines();
      if (writers.every((w) => sysOf(w) >= w.lines && lokiOf(w) >= w.lines)) return true;
      await metrics().catch(() => '');
      if (trace) await appendFile(trace, `${((Date.now() - started) / 1000).toFixed(1)} ${explain().split('\n').slice(-10).join(' | ')}\n`);
      return undefined;
    }, explain);
    const caughtUp = (Date.now() - started) / 1000;

    // Loki: each (container, stream) exactly its lines, in order, with the right labels
    for (const w of writers) {
      const entries = loki.streams.get(`${w.container}/${w.stream}`) ?? [];
      const nums = entries.map((e) => Number(new RegExp(`^${w.container} line (\\d+) x+$`).exec(e.line)?.[1] ?? -1));
      assert.equal(nums.length, w.lines, `Loki ${w.container}: ${nums.length} lines for ${w.lines} written`);
      assert.ok(nums.every((n, i) => n === i), `Loki ${w.container}: every line once, in order (first wrong at ${nums.findIndex((n, i) => n !== i)})`);
      assert.deepEqual(entries[0]!.labels, { node: nodeName, namespace: NS, pod: w.pod, container: w.container, stream: w.stream });
      assert.ok(entries.every((e) => e.labels.pod === w.pod && e.labels.stream === w.stream), `Loki ${w.container}: labels`);
    }
    // rsyslog (RELP): the same, labels from the structured data; more than one file key = rotation
    const sys = await syslogLines();
    const uid = new Map([...before].map(([name, p]) => [name, p.metadata!.uid!]));
    for (const w of writers) {
      const mine = sys.filter((l) => l.sd.container === w.container);
      const nums = mine.map((l) => Number(new RegExp(`^${w.container} line (\\d+) x+$`).exec(l.msg)?.[1] ?? -1));
      const wrong = nums.findIndex((n, i) => n !== i);
      assert.equal(nums.length, w.lines, `rsyslog ${w.container}: ${nums.length} lines for ${w.lines} written (first wrong at ${wrong}: ${JSON.stringify(nums.slice(Math.max(0, wrong - 2), wrong + 3))})`);
      assert.ok(wrong === -1, `rsyslog ${w.container}: every line once, in order (first wrong at ${wrong})`);
      assert.ok(
        mine.every((l) => l.sd.node === nodeName && l.sd.namespace === NS && l.sd.pod === w.pod && l.sd.stream === w.stream && l.sd.uid === uid.get(w.pod)),
        `rsyslog ${w.container}: labels ${JSON.stringify(mine.find((l) => l.sd.pod !== w.pod || l.sd.stream !== w.stream)?.sd)}`,
      );
    }
    assert.equal(sys.length, total, 'nothing else reached rsyslog');
    const files = new Map(writers.map((w) => [w.container, new Set(sys.filter((l) => l.sd.container === w.container).map((l) => l.sd.id!.split(':')[0]))]));
    for (const w of writers.filter((x) => x.stream === 'stdout')) assert.ok(files.get(w.container)!.size > 1, `${w.container}'s log was rotated during the run (lines came from ${files.get(w.container)!.size} file(s))`);

    // the pods ran through the node restart: same containers, no restarts
    for (const [name, p0] of before) {
      const p = (await s.server.api('GET', `/api/v1/namespaces/${NS}/pods/${name}`)).body as Pod;
      for (const c of p.status?.containerStatuses ?? []) {
        assert.equal(c.restartCount, 0, `${name}/${c.name} did not restart`);
        assert.equal(c.containerID, p0.status?.containerStatuses?.find((x) => x.name === c.name)?.containerID, `${name}/${c.name} is the same container after the node restart`);
      }
    }

    // nothing dropped within the bound, and the node says so
    const m = await metrics();
    for (const sink of [relpSink, lokiSink]) {
      assert.equal(metric(m, 'hedge_logship_lines_dropped_total', sink), 0, `${sink}: dropped\n${m}`);
      assert.equal(metric(m, 'hedge_logship_lines_delivered_total', sink), total, `${sink}: delivered`);
      assert.equal(metric(m, 'hedge_logship_sink_up', sink), 1, `${sink}: up`);
    }
    assert.match(m, /^hedge_logship_buffer_limit_bytes 536870912$/m);
    const events = ((await s.server.api('GET', `/api/v1/namespaces/${NS}/events`)).body as { items: Event[] }).items;
    assert.deepEqual(events.filter((e) => e.reason === 'LogLinesDropped'), [], 'no LogLinesDropped events');

    const rotatedNow = (await Promise.all(writers.map(async (w) => (await readdir(join(node.dataDir, 'logs', 'pods', `${NS}_${w.pod}_${uid.get(w.pod)}`, w.container)).catch(() => [])).length))).reduce((a, b) => a + b, 0);
    t.diagnostic(
      `${total} lines from ${writers.length} containers (${mains.join(', ')}) written over ~${DURATION_S} s (${Math.round(total / DURATION_S)}/s); ` +
        `rsyslog outage + node restart at ${restartedAt.toFixed(1)} s; every line at rsyslog (RELP) and Loki exactly once, in order, ${caughtUp.toFixed(1)} s after the writers started; ` +
        `log files from ${[...files.values()].reduce((a, f) => a + f.size, 0)} inodes shipped, ${rotatedNow} on disk now; at Loki when the node stopped: ${atStop}`,
    );
  });
});
