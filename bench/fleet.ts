/**
 * Hollow fleet (kubemark-style): N simulated nodes against a real `hedge server` (SQLite, one
 * replica; or a real etcd with one or two replicas, the nodes spread over them). Each hollow node
 * does what a node agent does towards the API, through the real client code:
 *   - registers its Node and posts its status (Ready, 32 cpu / 64 Gi / 110 pods);
 *   - renews `kube-node-lease/<node>` every 10 s with the agent's own NodeLease.renew() and its wait (one PUT on
 *     the lease it last wrote, as the kubelet; a GET only after a refusal);
 *   - runs the kubelet's node status loop: every nodeStatusUpdateFrequency (10 s, +4 % jitter) it
 *     checks whether a report is due and PATCHes nodes/status (strategic merge, fresh heartbeat
 *     times) at least every --status-report-s (the kubelet's nodeStatusReportFrequency, 5 min). As
 *     the kubelet after a start, the first interval gets a one-time random offset in ±half of it
 *     (delayAfterNodeStatusChange), so nodes registered together do not report together. A hollow
 *     node's status never changes (pretend capacity, no pressure), so it reports on that clock alone;
 *     a Ready=Unknown written by the lifecycle controller is not seen (no Node informer per node);
 *   - watches its pods (an Informer with fieldSelector spec.nodeName=<node>) and acks each bound pod
 *     Running/Ready through pods/status (a pretend runtime: no containers are started).
 * The server runs its controllers (scheduler, node lifecycle, ...) as in production.
 * What is modelled loosely: all hollow nodes of one apiserver share one client, authenticated with
 * the admin's certificate, and its keep-alive pool (at most --max-sockets connections, reused across
 * nodes in rotation so that none idles out; each node's pod watch holds a socket of its own). So node restriction and per-node RBAC are
 * not exercised, and the server sees ~N+few TLS connections, not one or two per node as with real
 * nodes; the handshake cost of per-node connections is not in these figures.
 * Measured per fleet size: registration time, lease renewal p50/p99 (steady state, and while the
 * pods are scheduled), apiserver CPU and RSS (and RSS growth per node), the fleet process's own
 * CPU, in all and per renewal (when it is saturated, latencies include its queueing), LIST of all nodes, watch fan-out delay
 * (bench writes an annotation on a bound pod → the owning node's watch delivers it, while every
 * node watches), and the time to schedule + run one pod per node. Prints a table; asserts nothing.
 * There is no kubemark or kube-apiserver on this machine to run beside it: the upstream SLOs
 * (mutating API call p99 ≤ 1 s; 5,000 nodes per cluster) are the published context.
 *
 * Run: node --import tsx bench/fleet.ts [--nodes 1000,5000,10000] [--store sqlite|etcd|both]
 *      [--replicas 1|2 (etcd)] [--steady-s 30] [--phase-timeout-s 600] [--server-prof DIR] [--trace] [--steady-only] [--renew-cpu R] [--max-sockets 2000]
 *      [--server-log DIR] [--lists 5] [--status-report-s 300 (0: no node status loop)]
 *      [--kubelet-jitter (the nodes wait 10 s + 4 % after every renewal, as the kubelet, without the
 *      agent's spreading after a renewal that waited: NodeLease.renewDelayMs)]
 *      (HEDGE_FLEET_STARTS=1: also print how many renewals started in each second of the steady window)
 *      [--server-flags=--max-semi-space-size=8 (V8 flags for the servers; default: what bin/hedge.js gives `hedge server`)]
 *      [--server-bin OTHER/bin/hedge.js (another checkout's build as the servers, the same fleet driving it: an A/B of two builds)]
 * (`--server-prof` writes each apiserver's V8 CPU profile into DIR; `--server-log` each one's log, at info level; `--trace` prints where a renewal's
 * time goes — fleet-side socket wait and TLS, server handler time, both event loops — with the
 * window's monotonic µs to cut a profile to it; `--steady-only` stops after steady state and LIST)
 * 'run-queue wait %' is the servers' main thread runnable but not running (/proc/PID/schedstat): on
 * this shared 2-core machine a server at 25 % CPU can be saturated, waiting for a CPU, not idle.
 */
import { subscribe } from 'node:diagnostics_channel';
import { setMaxListeners } from 'node:events';
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import type { KubeObject } from '../src/api/object.ts';
import { systemClock } from '../src/client/clock.ts';
import { HttpKubeClient } from '../src/client/http-client.ts';
import { Informer } from '../src/client/informer.ts';
import { loadKubeconfig } from '../src/client/kubeconfig.ts';
import { Resources } from '../src/client/resources.ts';
import type { KubeClient } from '../src/client/types.ts';
import { NodeLease, NODE_LEASE_NAMESPACE } from '../src/agent/lease/node-lease.ts';
import type { NodeObject, PodObject } from '../src/controllers/common/types.ts';
import { launcherServerFlags } from './lib/launcher-flags.ts';
import { makeNode, makePod } from '../src/controllers/testing/objects.ts';
import { isHedgeError } from '../src/lib/errors.ts';
import { silentLogger } from '../src/lib/log.ts';
import { jitteredPeriod } from '../src/lib/sleep.ts';
import { startEtcd, type EtcdProcess } from '../src/store/etcd/etcd-process.ts';
import { startHedgeServer, type HedgeServer } from '../test/e2e/harness.ts';
import { cpuMs, percentile, printTable, rssMiB } from './apiserver-seed.ts';
/** the lines bench/loop-probe.ts writes (importing it here would start a probe in the fleet too) */
const LOOP_PROBE_PREFIX = 'LOOP-PROBE';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000,5000,10000' },
    store: { type: 'string', default: 'sqlite' },
    replicas: { type: 'string', default: '2' },
    'steady-s': { type: 'string', default: '30' },
    'phase-timeout-s': { type: 'string', default: '600' },
    'server-prof': { type: 'string' },
    trace: { type: 'boolean', default: false },
    'steady-only': { type: 'boolean', default: false },
    'renew-cpu': { type: 'string' },
    'max-sockets': { type: 'string', default: '2000' },
    'server-flags': { type: 'string' },
    'server-log': { type: 'string' },
    'server-bin': { type: 'string' },
    lists: { type: 'string', default: '5' },
    // kubelet nodeStatusReportFrequency (5 min); 0: no status loop
    'status-report-s': { type: 'string', default: '300' },
    // the kubelet's 4 % jitter after every renewal, without the agent's spreading after slow ones
    'kubelet-jitter': { type: 'boolean', default: false },
  },
});
const sizes = (values.nodes ?? '').split(',').map(Number);
const stores = values.store === 'both' ? ['sqlite', 'etcd'] : [values.store ?? 'sqlite'];
const etcdReplicas = Number(values.replicas);
const steadyMs = Number(values['steady-s']) * 1000;
const phaseTimeoutMs = Number(values['phase-timeout-s']) * 1000;
const RENEW_MS = 10_000;
/** the kubelet's nodeStatusUpdateFrequency: how often its status loop looks whether to report */
const STATUS_CHECK_MS = 10_000;
const statusReportMs = Number(values['status-report-s']) * 1000;
/**
 * connections per apiserver for the hollow nodes' requests (their watches have a client of their
 * own, one connection each): a process may hold at most 20,000 descriptors on this machine (the
 * hard limit; raising it needs CAP_SYS_RESOURCE, which root here lacks), and with 10,000 nodes the
 * watches take half of that in the fleet and in each apiserver. Renewals beyond it wait for a free
 * connection, and that wait counts in their latency (--trace shows it as start → request sent).
 */
const maxSockets = Number(values['max-sockets']);
const NS = 'fleet';
const ETCD = '/usr/bin/etcd';
const log = silentLogger();
const loopProbe = fileURLToPath(new URL('./loop-probe.ts', import.meta.url));
// the servers get the launcher's flags (the harness runs `node bin/hedge.js`, which skips that line)
const serverFlags = values['server-flags'] ?? launcherServerFlags();
const prof = {
  ...(values['server-bin'] ? { bin: values['server-bin'] } : {}),
  execArgv: [
    ...serverFlags.split(' ').filter(Boolean),
    ...(values['server-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['server-prof']}`] : []),
    // --trace: each server reports its event-loop delay and utilization (bench/loop-probe.ts)
    ...(values.trace ? ['--import', 'tsx', '--import', loopProbe] : []),
  ],
};
// the servers' request log (debug level) gives their handler time per request
// a pod range for every node (the default 10.244.0.0/16 holds 256 /24s), as a cluster this size is set up
const serverLog = ['--cluster-cidr', '10.0.0.0/10', ...(values.trace ? ['--log-level', 'debug'] : values['server-log'] ? ['--log-level', 'info'] : [])];

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, async () => {
    while (next < n) await fn(next++);
  }));
}

async function waitUntil(what: string, timeoutMs: number, cond: () => boolean): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** a bounded number of calls in flight across the whole fleet (a kubelet has its own QPS limit) */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    while (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * --trace: where a renewal's time goes, seen from the fleet process. Each lease request of a hollow
 * node is split into: renewal start → request sent (waiting for a socket in the client's pool, and
 * for new sockets the connect + TLS handshake, shown on its own), and request sent → response
 * headers (the server's queueing and work plus the network). Beside it the fleet's own event-loop
 * delay (a busy fleet delays every callback, so its timings include its own queueing) and the
 * servers' handler time from their debug log.
 */
class RenewTracer {
  readonly toSent: number[] = [];
  readonly handshake: number[] = [];
  readonly response: number[] = [];
  newSockets = 0;
  reused = 0;
  /** renewal start per lease name, set by the hollow node */
  readonly started = new Map<string, number>();
  private readonly sockets = new WeakMap<Socket, { created: number; used: boolean }>();
  private readonly sent = new WeakMap<ClientRequest, number>();
  readonly loop = monitorEventLoopDelay({ resolution: 10 });
  on = false;

  constructor() {
    subscribe('net.client.socket', (msg) => {
      const sock = (msg as { socket: Socket }).socket;
      const created = performance.now();
      this.sockets.set(sock, { created, used: false });
      sock.once('secureConnect', () => {
        if (this.on) this.handshake.push(performance.now() - created);
      });
    });
    // published once the request is written out (so after its socket was found or made)
    subscribe('http.client.request.start', (msg) => {
      const req = (msg as { request: ClientRequest }).request;
      if (!this.on || req.getHeader('user-agent') !== 'hedge-hollow-node' || !req.path.includes('/leases/')) return;
      const now = performance.now();
      this.sent.set(req, now);
      const t0 = this.started.get(req.path.slice(req.path.lastIndexOf('/') + 1));
      if (t0 !== undefined) this.toSent.push(now - t0);
      const info = req.socket ? this.sockets.get(req.socket) : undefined;
      if (info && !info.used) this.newSockets++;
      else this.reused++;
      if (info) info.used = true;
    });
    subscribe('http.client.response.finish', (msg) => {
      const req = (msg as { request: ClientRequest }).request;
      const t = this.sent.get(req);
      if (t !== undefined) this.response.push(performance.now() - t);
    });
  }

  start(): void {
    this.on = true;
    this.loop.enable();
  }

  stop(): void {
    this.on = false;
    this.loop.disable();
  }
}

const tracer = values.trace ? new RenewTracer() : undefined;

/** the loop-probe lines of a server's output: delay p99 and utilization per 5 s */
function serverLoop(out: string): string {
  const lines = out.split('\n').filter((l) => l.startsWith(LOOP_PROBE_PREFIX));
  const probes = lines.map((l) => JSON.parse(l.slice(LOOP_PROBE_PREFIX.length)) as { p99: string; utilization: string });
  return `delay p99 ${probes.map((p) => p.p99).join(' ')} ms, utilization ${probes.map((p) => p.utilization).join(' ')} (per 5 s)`;
}

/** handler time of lease requests in the servers' debug request log (`ms`, from request to response end) */
function serverLeaseMs(logText: string): number[] {
  const out: number[] = [];
  for (const line of logText.split('\n')) {
    if (!line.includes('"msg":"request"') || !line.includes('/leases/')) continue;
    const m = /"ms":([\d.]+)/.exec(line);
    if (m) out.push(Number(m[1]));
  }
  return out;
}

/**
 * Where the tail is: the seconds of the steady window that hold most renewals slower than 100 ms,
 * each with its count and slowest. One stall of the server (or of this process) delays every
 * renewal of its duration, so a p99 set by a few bad seconds reads differently from one spread out.
 */
function slowSeconds(starts: number[], ms: number[], windowStart: number): string {
  const bySecond = new Map<number, { n: number; max: number }>();
  ms.forEach((m, i) => {
    if (m < 100) return;
    const s = Math.floor((starts[i] - windowStart) / 1000);
    const b = bySecond.get(s) ?? { n: 0, max: 0 };
    b.n++;
    b.max = Math.max(b.max, m);
    bySecond.set(s, b);
  });
  const slow = ms.filter((m) => m >= 100).length;
  const worst = [...bySecond].sort((a, b) => b[1].n - a[1].n).slice(0, 6);
  // the window's start on the wall clock, to find those seconds in the servers' logs
  const began = new Date(Date.now() - (performance.now() - windowStart)).toISOString().slice(11, 23);
  return `  renewals ≥ 100 ms: ${slow} of ${ms.length}; by start second of the window (which began ${began} UTC): ${worst.map(([s, b]) => `${s}s ${b.n} (max ${Math.round(b.max)})`).join(', ') || '-'}\n`;
}

/**
 * How evenly the renewals arrive: how many started in each second of the steady window. Even
 * phases give ~n/10 in every second; bunched ones a few seconds far above it, which queue in the
 * apiserver however idle it is on average.
 */
function startsPerSecond(starts: number[], windowStart: number, windowMs: number): number[] {
  const perSecond = new Array<number>(Math.ceil(windowMs / 1000)).fill(0);
  for (const st of starts) {
    const s = Math.floor((st - windowStart) / 1000);
    if (s >= 0 && s < perSecond.length) perSecond[s]++;
  }
  return perSecond;
}

/** times the servers' controllers lost a leader-election lease (not at shutdown): their apiserver answered too late */
function leasesLost(servers: HedgeServer[]): number {
  return servers.reduce((k, sv) => k + sv.output().split('"msg":"lost the lease').length - 1, 0);
}

function isReadyNode(node: NodeObject): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** when a renewal started: registration and watch setup (`setup`), the steady window, the pod storm */
type Phase = 'setup' | 'steady' | 'pods';

interface FleetStats {
  renew: Record<Phase, number[]>;
  /** when each steady-state renewal started (performance.now()), beside its time in renew.steady */
  steadyStarts: number[];
  renewErrors: number;
  /** renewal errors by when (the phase, or outside the measured phases) and why (error code and message) */
  renewErrorReasons: Map<string, number>;
  /** transport failures (connect timeouts, resets) retried, as an agent retries */
  retries: number;
  acks: number;
  ackErrors: number;
  fanout: number[];
  /** node status PATCHes that ended in each phase, ms */
  status: Record<Phase, number[]>;
  statusErrors: number;
}

const newStats = (): FleetStats => ({ renew: { setup: [], steady: [], pods: [] }, steadyStarts: [], renewErrors: 0, renewErrorReasons: new Map(), retries: 0, acks: 0, ackErrors: 0, fanout: [], status: { setup: [], steady: [], pods: [] }, statusErrors: 0 });

/** what a failed request says, shortly: its code (a Kubernetes reason or a socket error's) and the message's start */
function errorReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  // numbers (node names, resourceVersions, ms) vary per error: grouped as N
  // the request line (every renewal's is a lease PUT) would fill the 80 characters kept
  const message = (typeof e.message === 'string' ? e.message.split('\n')[0] : String(err))
    .replace(/^[A-Z]+ \/\S+: /, '')
    .replace(/\d+/g, 'N')
    .slice(0, 80);
  return typeof e.code === 'string' ? `${e.code} (${message})` : message;
}

const FANOUT_ANNOTATION = 'bench.hedge.io/sent-at';

/** an agent's retry of a call that failed in transport: up to 6 attempts, 1 s doubling back-off */
async function retrying<T>(stats: FleetStats, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const transient = isHedgeError(err, 'Unavailable') || isHedgeError(err, 'Timeout') || isHedgeError(err, 'TooManyRequests');
      if (!transient || attempt >= 5 || signal.aborted) throw err;
      stats.retries++;
      await new Promise((r) => setTimeout(r, 1000 * 2 ** attempt));
    }
  }
}

class HollowNode {
  private lease: NodeLease;
  private uid: string | undefined;
  informer: Informer<PodObject> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  /** when the status was last reported (performance.now()), and the one-time offset of the next report */
  private lastReport = 0;
  private reportDelay = 0;
  readonly acked = new Set<string>();

  constructor(
    readonly name: string,
    private readonly client: KubeClient,
    private readonly watchClient: KubeClient,
    private readonly stats: FleetStats,
    private readonly limiter: Limiter,
    private readonly phase: () => Phase | undefined,
  ) {
    this.lease = new NodeLease({ client, nodeName: name, clock: systemClock, logger: log, nodeUid: () => Promise.resolve(this.uid), ...(values['kubelet-jitter'] ? { spreadAfterMs: 0 } : {}) });
  }

  /** Node + status + the first lease, as an agent's start */
  async register(signal: AbortSignal): Promise<void> {
    const node = makeNode(this.name, { cpu: '32', memory: '64Gi', pods: '110', heartbeat: new Date().toISOString() });
    node.metadata.labels = { ...node.metadata.labels, 'hedge.io/hollow': 'true' };
    const created = await retrying(this.stats, signal, () =>
      this.client.create<NodeObject>(Resources.nodes, node, { signal }).catch((err: unknown) => {
        // an earlier attempt that timed out on our side may have been stored
        if (isHedgeError(err, 'AlreadyExists')) return this.client.get<NodeObject>(Resources.nodes, this.name, { signal });
        throw err;
      }),
    );
    this.uid = created.metadata.uid;
    // a patch, as the agent's status sync: controllers (IPAM) may write the Node meanwhile
    await retrying(this.stats, signal, () => this.client.patch(Resources.nodes, this.name, 'merge', { status: node.status }, { subresource: 'status', signal }));
    // a start is a change for the kubelet: the next report comes after the period ± half of it at random
    this.lastReport = performance.now();
    this.reportDelay = (Math.random() - 0.5) * statusReportMs;
    await retrying(this.stats, signal, () => this.lease.renew(signal));
  }

  /**
   * The kubelet's status loop (tryUpdateNodeStatus): every 10 s (+ up to 4 %) a check, and a PATCH
   * of nodes/status once the report period (plus the one-time offset after the start) has passed.
   * The patch is what the agent's NodeRegistrar sends: conditions by type with fresh heartbeats.
   */
  startStatusLoop(signal: AbortSignal): void {
    if (statusReportMs <= 0) return;
    const tick = (): void => {
      const now = performance.now();
      if (now < this.lastReport + statusReportMs + this.reportDelay) {
        this.statusTimer = setTimeout(tick, jitteredPeriod(STATUS_CHECK_MS));
        return;
      }
      const startedIn = this.phase();
      const heartbeat = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const status = { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'hollow node is posting ready status', lastHeartbeatTime: heartbeat }] };
      this.client.patch(Resources.nodes, this.name, 'strategic', { status }, { subresource: 'status', signal }).then(
        () => {
          const ph = startedIn === 'setup' ? 'setup' : this.phase();
          if (ph) this.stats.status[ph].push(performance.now() - now);
          this.lastReport = now;
          this.reportDelay = 0;
        },
        () => {
          // the kubelet retries on its next tick (its lastStatusReportTime stays)
          if (!signal.aborted) this.stats.statusErrors++;
        },
      ).finally(() => {
        if (!signal.aborted) this.statusTimer = setTimeout(tick, jitteredPeriod(STATUS_CHECK_MS));
      });
    };
    // the status loop starts with the agent, in step with nothing else
    this.statusTimer = setTimeout(tick, Math.random() * STATUS_CHECK_MS);
    signal.addEventListener('abort', () => clearTimeout(this.statusTimer), { once: true });
  }

  startWatch(signal: AbortSignal): Promise<void> {
    this.informer = new Informer<PodObject>({
      client: this.watchClient,
      resource: Resources.pods,
      logger: log,
      fieldSelector: `spec.nodeName=${this.name}`,
      onAdd: (p) => this.onPod(p, signal),
      onUpdate: (_, p) => this.onPod(p, signal),
    });
    return this.informer.run(signal);
  }

  /** one renewal, as the 10 s loop does it (for --renew-cpu) */
  renewOnce(signal: AbortSignal): Promise<void> {
    return this.lease.renew(signal);
  }

  /** renew every 10 s (jittered, as the agent) from a random offset, timing each renewal */
  startRenewing(signal: AbortSignal): void {
    const tick = (): void => {
      const t0 = performance.now();
      tracer?.started.set(this.name, t0);
      // a renewal started in the setup counts there however late it ends (its slowest are the point);
      // the others by the phase they end in
      const startedIn = this.phase();
      const phaseOf = (): Phase | undefined => (startedIn === 'setup' ? 'setup' : this.phase());
      let tookMs = 0;
      this.lease.renew(signal).then(
        () => {
          tookMs = performance.now() - t0;
          const ph = phaseOf();
          if (ph) this.stats.renew[ph].push(tookMs);
          if (ph === 'steady') this.stats.steadyStarts.push(t0);
        },
        (err: unknown) => {
          if (signal.aborted) return;
          this.stats.renewErrors++;
          const key = `${phaseOf() ?? 'outside the measured phases'}: ${errorReason(err)}`;
          this.stats.renewErrorReasons.set(key, (this.stats.renewErrorReasons.get(key) ?? 0) + 1);
        },
      ).finally(() => {
        // the agent's own wait: 10 s plus up to 4 %, at random (an exact 10 s kept bunches bunched);
        // after a renewal that waited, anywhere in 5–15 s (unless --kubelet-jitter)
        if (!signal.aborted) this.timer = setTimeout(tick, this.lease.renewDelayMs(tookMs));
      });
    };
    this.timer = setTimeout(tick, Math.random() * RENEW_MS);
    signal.addEventListener('abort', () => clearTimeout(this.timer), { once: true });
  }

  private onPod(pod: PodObject, signal: AbortSignal): void {
    const sent = pod.metadata.annotations?.[FANOUT_ANNOTATION];
    if (sent) {
      this.stats.fanout.push(Date.now() - Number(sent));
      return;
    }
    const key = pod.metadata.name ?? '';
    if (pod.metadata.deletionTimestamp || pod.status?.phase !== 'Pending' || this.acked.has(key)) return;
    this.acked.add(key);
    void this.limiter.run(() => retrying(this.stats, signal, () => this.ack(pod, signal))).catch(() => {
      if (!signal.aborted) this.stats.ackErrors++;
      this.acked.delete(key);
    });
  }

  /** the pretend runtime started the pod: Running and Ready, as pod status sync would post it */
  private async ack(pod: PodObject, signal: AbortSignal): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const cond = (type: string): { type: string; status: string; lastTransitionTime: string } => ({ type, status: 'True', lastTransitionTime: now });
    let cur = pod;
    for (let attempt = 0; ; attempt++) {
      const status = {
        ...cur.status,
        phase: 'Running',
        hostIP: '10.0.0.1',
        podIP: '10.244.0.2',
        startTime: now,
        conditions: [cond('PodReadyToStartContainers'), cond('Initialized'), cond('Ready'), cond('ContainersReady'), cond('PodScheduled')],
        containerStatuses: (cur.spec?.containers ?? []).map((c) => ({
          name: c.name,
          image: c.image ?? '',
          imageID: '',
          containerID: `hollow://${cur.metadata.uid ?? ''}-${c.name}`,
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: now } },
        })),
      };
      try {
        await this.client.updateStatus(Resources.pods, { ...cur, status } as KubeObject, { signal });
        this.stats.acks++;
        return;
      } catch (err) {
        if (!isHedgeError(err, 'Conflict') || attempt >= 5) throw err;
        cur = await this.client.get<PodObject>(Resources.pods, cur.metadata.name ?? '', { namespace: cur.metadata.namespace, signal });
      }
    }
  }
}

interface Cluster {
  servers: HedgeServer[];
  /** the hollow nodes' requests, at most `maxSockets` connections each */
  clients: HttpKubeClient[];
  /** the hollow nodes' pod watches, a connection per watch */
  watchClients: HttpKubeClient[];
  etcd?: EtcdProcess;
  label: string;
}

async function startCluster(store: string): Promise<Cluster> {
  if (store === 'sqlite') {
    const s = await startHedgeServer({ store: 'sqlite', extraArgs: serverLog, timeoutMs: 120_000, ...prof });
    return { servers: [s], clients: [await clientFor(s, maxSockets)], watchClients: [await clientFor(s)], label: 'sqlite, 1 apiserver' };
  }
  if (!existsSync(ETCD)) throw new Error(`${ETCD} not installed (scripts/setup.sh installs etcd-server)`);
  // progress notifications every 5 s (as GKE runs etcd), not the tests' 100 ms: each apiserver holds
  // an etcd watch per resource it serves watches of, ~25 on the one running the controllers
  const etcd = await startEtcd(ETCD, { progressNotifyMs: 5_000 });
  const args = ['--etcd-servers', etcd.endpoint, ...serverLog];
  const first = await startHedgeServer({ store: 'etcd', extraArgs: args, timeoutMs: 120_000, ...prof });
  const servers = [first];
  for (let i = 1; i < etcdReplicas; i++) servers.push(await startHedgeServer({ store: 'etcd', dataDir: first.dataDir, extraArgs: args, timeoutMs: 120_000, ...prof }));
  const clients = await Promise.all(servers.map((s) => clientFor(s, maxSockets)));
  const watchClients = await Promise.all(servers.map((s) => clientFor(s)));
  return { servers, clients, watchClients, etcd, label: `etcd, ${servers.length} apiserver${servers.length > 1 ? 's' : ''}` };
}

async function clientFor(s: HedgeServer, sockets?: number): Promise<HttpKubeClient> {
  // replicas share a data dir, so its kubeconfig names the replica that started last: without its
  // own URL every client (both halves of the fleet, the bench's own calls) reached that one alone.
  // The shared pool rotates over its connections (fifo): a real node's one connection carries a
  // request every 10 s and never idles out, and with the default lifo the pool shrank between
  // bursts (idle sockets closed after 30 s) and grew again, thousands of TLS handshakes a minute
  // that real nodes do not cause (2,000 nodes: up to 1,400 connections closed and opened per 5 s).
  return new HttpKubeClient({ ...(await loadKubeconfig(s.kubeconfig)), server: s.url, userAgent: 'hedge-hollow-node', requestTimeoutMs: 120_000, maxSockets: sockets, scheduling: 'fifo' });
}

async function stopCluster(c: Cluster, n: number): Promise<void> {
  await Promise.allSettled([...c.clients, ...c.watchClients].map((cl) => cl.close()));
  if (values['server-log']) {
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(values['server-log'], { recursive: true });
    await Promise.all(c.servers.map((s, i) => writeFile(`${values['server-log']}/${c.label.split(',')[0]}-${n}-server${i}.log`, s.output())));
  }
  for (const s of [...c.servers].reverse()) {
    // a profiled server needs time to write its profile on the way out
    await s.stop(values['server-prof'] ? { graceMs: 120_000 } : undefined);
  }
  // replicas share the first one's data dir
  await c.servers[0].cleanup();
  await c.etcd?.stop();
}

/**
 * ms the process's main thread (the event loop) spent runnable but waiting for a CPU
 * (/proc/PID/schedstat, field 2): on a shared machine, low CPU % with a high wait means starved, not idle
 */
async function runQueueMs(pid: number): Promise<number> {
  return Number((await readFile(`/proc/${pid}/schedstat`, 'utf8')).split(' ')[1]) / 1e6;
}

const sum = async (pids: number[], f: (pid: number) => Promise<number>): Promise<number> => (await Promise.all(pids.map(f))).reduce((a, b) => a + b, 0);
const fmt = (xs: number[], p: number): string => (xs.length ? percentile([...xs].sort((a, b) => a - b), p).toFixed(0) : '-');

type Row = (string | number)[];

/**
 * The kernel's count of connections a listener's full accept queue dropped (TcpExt ListenOverflows,
 * machine-wide): each is a handshake the client thinks complete while the server never accepted
 * it, so its request waits out retransmissions or meets a reset (ECONNRESET).
 */
async function listenOverflows(): Promise<number | undefined> {
  const lines = (await readFile('/proc/net/netstat', 'utf8').catch(() => '')).split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    if (!lines[i].startsWith('TcpExt:')) continue;
    const at = lines[i].split(/\s+/).indexOf('ListenOverflows');
    return at > 0 ? Number(lines[i + 1].split(/\s+/)[at]) : undefined;
  }
  return undefined;
}

/** how many node status reports a phase saw and how long they took */
const statusCell = (xs: number[]): string => (statusReportMs <= 0 ? 'off' : `${xs.length}, ${fmt(xs, 50)} / ${fmt(xs, 99)}`);

async function runSize(store: string, n: number): Promise<Row> {
  const overflowsBefore = await listenOverflows();
  const cluster = await startCluster(store);
  const pids = cluster.servers.map((s) => s.pid);
  // the bench's own calls go through a client of their own, beside the fleet's
  const admin = await clientFor(cluster.servers[0]);
  const stats = newStats();
  let phase: Phase | undefined;
  const ac = new AbortController();
  setMaxListeners(0, ac.signal); // every hollow node's loops listen on it
  const limiter = new Limiter(128);
  const nodes = Array.from({ length: n }, (_, i) => new HollowNode(`hollow-${i}`, cluster.clients[i % cluster.clients.length], cluster.watchClients[i % cluster.clients.length], stats, limiter, () => phase));
  const watches: Promise<void>[] = [];
  // filled as the phases complete, so a fleet that breaks late still reports what it reached
  const col = new Map<string, string>([['store', cluster.label], ['nodes', String(n)]]);
  // each figure also goes to stderr as it is taken, with the time and load: a run stopped early keeps them
  const set = col.set.bind(col);
  col.set = (k: string, v: string) => {
    process.stderr.write(`  [${n} nodes ${new Date().toISOString().slice(11, 19)} load ${loadavg()[0].toFixed(1)}] ${k}: ${v}\n`);
    return set(k, v);
  };
  let stage = 'setup';
  let notReady = 0;
  /** what broke short of an error: controllers that lost their leases, nodes marked not Ready */
  const degraded = (): string[] => {
    const lost = leasesLost(cluster.servers);
    return [...(lost ? [`controllers lost their leases ${lost}×`] : []), ...(notReady ? [`${notReady} nodes not Ready`] : [])];
  };
  try {
    // the controllers create `default` and friends; the bench's pods get their own namespace
    await admin.create(Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await admin.get(Resources.namespaces, NODE_LEASE_NAMESPACE).catch(() =>
      admin.create(Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NODE_LEASE_NAMESPACE } }),
    );
    const rss0 = await sum(pids, rssMiB);

    // 1. register (64 agents starting at a time)
    stage = 'register';
    phase = 'setup';
    let t = performance.now();
    // each node renews its lease from its registration on, as an agent does: started only after
    // every node's watch was up, the first ~1,000 of 10,000 nodes went 50 s without a renewal, past
    // the 40 s grace, and were marked not Ready for the rest of the run (nothing posts Ready again)
    await pool(n, 64, async (i) => {
      await nodes[i].register(ac.signal);
      nodes[i].startRenewing(ac.signal);
      nodes[i].startStatusLoop(ac.signal);
    });
    col.set('register s', ((performance.now() - t) / 1000).toFixed(1));

    // 2. every node's pod watch (list + watch), the nodes renewing meanwhile
    stage = 'watch setup';
    t = performance.now();
    await pool(n, 64, async (i) => {
      watches.push(nodes[i].startWatch(ac.signal).catch(() => undefined));
      await nodes[i].informer?.waitForSync(ac.signal);
    });
    col.set('watch setup s', ((performance.now() - t) / 1000).toFixed(1));
    phase = undefined;
    // the lifecycle controller marks a node Unreachable after 40 s without a renewal it saw: the
    // slowest renewals of the setup say how near the burst came to that
    col.set('renew p50/p99/max ms (setup)', `${fmt(stats.renew.setup, 50)} / ${fmt(stats.renew.setup, 99)} / ${fmt(stats.renew.setup, 100)}`);

    // 3. steady state: renewals only
    stage = 'steady state';
    await new Promise((r) => setTimeout(r, RENEW_MS)); // every node has renewed once from its random offset
    phase = 'steady';
    const cpu0 = await sum(pids, cpuMs);
    const etcdPid = cluster.etcd?.pid;
    const etcdCpu0 = etcdPid === undefined ? 0 : await cpuMs(etcdPid);
    const wait0 = await sum(pids, runQueueMs);
    const fleetWait0 = await runQueueMs(process.pid);
    const fleetCpu0 = process.cpuUsage();
    const logAt = cluster.servers.map((sv) => sv.output().length);
    tracer?.start();
    // the fleet's own stalls delay its renewals' starts (they then arrive together) and their answers
    const fleetLoop = monitorEventLoopDelay({ resolution: 10 });
    fleetLoop.enable();
    const steadyStartUs = Number(process.hrtime.bigint() / 1000n);
    t = performance.now();
    await new Promise((r) => setTimeout(r, steadyMs));
    const wall = performance.now() - t;
    fleetLoop.disable();
    col.set('fleet loop delay p99 / max ms (steady)', `${(fleetLoop.percentile(99) / 1e6).toFixed(0)} / ${(fleetLoop.max / 1e6).toFixed(0)}`);
    if (tracer) {
      tracer.stop();
      const handler = cluster.servers.flatMap((sv, i) => serverLeaseMs(sv.output().slice(logAt[i])));
      const ms = (xs: number[]): string => `p50 ${fmt(xs, 50)} / p99 ${fmt(xs, 99)} ms (${xs.length})`;
      const lag = tracer.loop;
      process.stderr.write(
        [
          // CLOCK_MONOTONIC µs, the clock of V8's .cpuprofile timestamps: cut a --server-prof profile to the window
          `trace, ${n} nodes, steady window (monotonic µs ${Math.round(steadyStartUs)}–${Math.round(Number(process.hrtime.bigint() / 1000n))}):`,
          `  renewal total            ${ms(stats.renew.steady)}`,
          `  start → request sent     ${ms(tracer.toSent)}`,
          `    of which connect + TLS ${ms(tracer.handshake)}  (requests on new sockets ${tracer.newSockets}, on reused ${tracer.reused})`,
          `  sent → response headers  ${ms(tracer.response)}`,
          `  server handler (log)     ${ms(handler)}`,
          ...cluster.servers.map((sv, i) => `  server ${i} event loop     ${serverLoop(sv.output().slice(logAt[i]))}`),
          `  fleet event-loop delay   p50 ${(lag.percentile(50) / 1e6).toFixed(0)} / p99 ${(lag.percentile(99) / 1e6).toFixed(0)} / max ${(lag.max / 1e6).toFixed(0)} ms`,
          '',
        ].join('\n'),
      );
    }
    const serverCpu = (await sum(pids, cpuMs)) - cpu0;
    col.set('apiserver CPU % (steady)', ((100 * serverCpu) / wall).toFixed(0));
    // what the servers spent per renewal in the window (steady state is renewals, plus watch upkeep)
    // (the window's node status reports are in this CPU too: about one per 30 renewals at the kubelet's 5 min)
    col.set('CPU ms / renewal', stats.renew.steady.length ? (serverCpu / stats.renew.steady.length).toFixed(1) : '-');
    col.set('apiserver run-queue wait %', ((100 * ((await sum(pids, runQueueMs)) - wait0)) / wall).toFixed(0));
    const fu = process.cpuUsage(fleetCpu0);
    col.set('fleet CPU % / wait %', `${((100 * (fu.user + fu.system)) / 1000 / wall).toFixed(0)} / ${((100 * ((await runQueueMs(process.pid)) - fleetWait0)) / wall).toFixed(0)}`);
    // the fleet's own CPU per renewal in the window (its idle pod watches included, as a node's)
    col.set('fleet CPU ms / renewal', stats.renew.steady.length ? ((fu.user + fu.system) / 1000 / stats.renew.steady.length).toFixed(2) : '-');
    if (etcdPid !== undefined) {
      col.set('etcd CPU % / RSS MiB', `${((100 * ((await cpuMs(etcdPid)) - etcdCpu0)) / wall).toFixed(0)} / ${(await rssMiB(etcdPid)).toFixed(0)}`);
    }
    const rss = await sum(pids, rssMiB);
    col.set('apiserver RSS MiB', rss.toFixed(0));
    col.set('RSS KiB/node', (((rss - rss0) * 1024) / n).toFixed(1));
    col.set('renew p50/p99 ms (steady)', `${fmt(stats.renew.steady, 50)} / ${fmt(stats.renew.steady, 99)}`);
    col.set('status n, p50/p99 ms (steady)', statusCell(stats.status.steady));
    const perSecond = startsPerSecond(stats.steadyStarts, t, steadyMs);
    if (process.env.HEDGE_FLEET_STARTS) process.stderr.write(`  renewals started per second of the window: ${perSecond.join(' ')}\n`);
    const sortedStarts = [...perSecond].sort((a, b) => a - b);
    col.set('renewals started / s p50 / max (steady)', sortedStarts.length ? `${percentile(sortedStarts, 50).toFixed(0)} / ${sortedStarts.at(-1)}` : '-');
    process.stderr.write(slowSeconds(stats.steadyStarts, stats.renew.steady, t));
    phase = undefined;

    // 4. LIST of all nodes (as `kubectl get nodes`), five times (--lists)
    stage = 'LIST nodes';
    const lists: number[] = [];
    for (let i = 0; i < Number(values.lists); i++) {
      t = performance.now();
      const l = await retrying(stats, ac.signal, () => admin.list(Resources.nodes));
      lists.push(performance.now() - t);
      if (l.items.length < n) throw new Error(`LIST nodes returned ${l.items.length} of ${n}`);
      notReady = l.items.filter((node) => !isReadyNode(node as NodeObject)).length;
    }
    col.set('LIST nodes ms', fmt(lists, 50));
    // late renewals past the grace period: the node lifecycle controller marks nodes unhealthy
    col.set('nodes not Ready', String(notReady));

    if (!values['steady-only']) {
      // 5. one pod per node: created through the API, scheduled by the server's scheduler, acked by the hollow nodes
      stage = 'pods';
      phase = 'pods';
      t = performance.now();
      await pool(n, 32, (i) => retrying(stats, ac.signal, () => admin.create(Resources.pods, makePod(`p-${i}`, { namespace: NS, cpu: '100m', memory: '64Mi' }))).then(() => undefined).catch((err: unknown) => {
        if (!isHedgeError(err, 'AlreadyExists')) throw err;
      }));
      const createdS = ((performance.now() - t) / 1000).toFixed(1);
      col.set('pods created / all Running s', `${createdS} / -`);
      // progress, so a stall shows when it began
      const progress = setInterval(() => process.stderr.write(`  pods: ${stats.acks} acked at ${((performance.now() - t) / 1000).toFixed(0)} s (load ${loadavg()[0].toFixed(1)})\n`), 15_000);
      try {
        await waitUntil(`${n} pods Running (${stats.acks} when the wait began)`, phaseTimeoutMs, () => stats.acks >= n);
      } catch (err) {
        // where the pods stopped: not bound (the scheduler), or bound and not delivered (the node watches)
        const pods = await admin.list<PodObject>(Resources.pods, { namespace: NS }).catch(() => undefined);
        const bound = pods?.items.filter((p) => p.spec?.nodeName).length ?? '?';
        throw new Error(`${(err as Error).message}; at the timeout ${stats.acks} Running, ${bound} of ${n} bound`, { cause: err });
      } finally {
        clearInterval(progress);
      }
      col.set('pods created / all Running s', `${createdS} / ${((performance.now() - t) / 1000).toFixed(1)}`);
      phase = undefined;
      col.set('renew p50/p99 ms (pod storm)', `${fmt(stats.renew.pods, 50)} / ${fmt(stats.renew.pods, 99)}`);
      col.set('status n, p50/p99 ms (pod storm)', statusCell(stats.status.pods));

      // 6. watch fan-out: an annotation written on a bound pod until its node's watch delivers it
      stage = 'fan-out';
      const acked = nodes.flatMap((node) => [...node.acked]).slice(0, 200);
      await pool(acked.length, 4, async (i) => {
        await retrying(stats, ac.signal, () =>
          admin.patch(Resources.pods, acked[i], 'merge', { metadata: { annotations: { [FANOUT_ANNOTATION]: String(Date.now()) } } }, { namespace: NS }),
        );
      });
      await waitUntil('fan-out deliveries', 60_000, () => stats.fanout.length >= acked.length);
      col.set('fan-out p50/p99 ms', `${fmt(stats.fanout, 50)} / ${fmt(stats.fanout, 99)}`);
      const errors = stats.renewErrors || stats.ackErrors ? [`${stats.renewErrors} renew / ${stats.ackErrors} ack errors`] : [];
      col.set('broke first', [...errors, ...degraded()].join('; ') || 'nothing');
    } else col.set('broke first', [...(stats.renewErrors ? [`${stats.renewErrors} renew errors`] : []), ...degraded()].join('; ') || 'nothing');
  } catch (err) {
    col.set('broke first', `${stage}: ${(err as Error).message.split('\n')[0]}`);
    if (phase === 'pods') col.set('renew p50/p99 ms (pod storm)', `${fmt(stats.renew.pods, 50)} / ${fmt(stats.renew.pods, 99)}`);
  } finally {
    col.set('controller leases lost', String(leasesLost(cluster.servers)));
    col.set('renew errors', String(stats.renewErrors));
    col.set('status errors', String(stats.statusErrors));
    for (const [why, count] of [...stats.renewErrorReasons].sort((a, b) => b[1] - a[1])) console.log(`  renew errors, ${why}: ${count}`);
    col.set('retried', String(stats.retries));
    const overflows = await listenOverflows();
    col.set('listen overflows', overflows === undefined || overflowsBefore === undefined ? '-' : String(overflows - overflowsBefore));
    col.set('load avg', loadavg().map((l) => l.toFixed(1)).join(' '));
    ac.abort();
    await Promise.allSettled(watches);
    await admin.close();
    await stopCluster(cluster, n);
  }
  return HEADERS.map((h) => col.get(h) ?? '-');
}

const HEADERS = [
  'store',
  'nodes',
  'register s',
  'watch setup s',
  'renew p50/p99/max ms (setup)',
  'renew p50/p99 ms (steady)',
  'renewals started / s p50 / max (steady)',
  'fleet loop delay p99 / max ms (steady)',
  'renew p50/p99 ms (pod storm)',
  'renew errors',
  'status n, p50/p99 ms (steady)',
  'status n, p50/p99 ms (pod storm)',
  'status errors',
  'retried',
  'listen overflows',
  'apiserver CPU % (steady)',
  'apiserver run-queue wait %',
  'CPU ms / renewal',
  'apiserver RSS MiB',
  'RSS KiB/node',
  'etcd CPU % / RSS MiB',
  'fleet CPU % / wait %',
  'fleet CPU ms / renewal',
  'LIST nodes ms',
  'nodes not Ready',
  'controller leases lost',
  'fan-out p50/p99 ms',
  'pods created / all Running s',
  'load avg',
  'broke first',
];
/**
 * --renew-cpu R: the CPU cost of a renewal alone, without the clock. N nodes register, then R
 * renewals run back to back (16 in flight, round robin over the nodes; no pod watches, so the
 * server's work is the renewals plus its controllers following the leases). CPU time per renewal
 * does not depend on how busy the machine is, unlike the latencies of the table.
 */
async function renewCpu(store: string, n: number, renewals: number): Promise<Row> {
  const cluster = await startCluster(store);
  const pids = cluster.servers.map((s) => s.pid);
  const stats = newStats();
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  const admin = await clientFor(cluster.servers[0]);
  try {
    await admin.get(Resources.namespaces, NODE_LEASE_NAMESPACE).catch(() =>
      admin.create(Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NODE_LEASE_NAMESPACE } }),
    );
    const nodes = Array.from({ length: n }, (_, i) => new HollowNode(`hollow-${i}`, cluster.clients[i % cluster.clients.length], cluster.watchClients[i % cluster.clients.length], stats, new Limiter(1), () => undefined));
    await pool(n, 64, (i) => nodes[i].register(ac.signal));
    // one round first: every node's lease is cached, the JIT is warm
    await pool(n, 16, (i) => nodes[i].renewOnce(ac.signal));
    const etcdPid = cluster.etcd?.pid;
    const etcdCpu0 = etcdPid === undefined ? 0 : await cpuMs(etcdPid);
    const calls0 = cluster.etcd === undefined ? undefined : await etcdCalls(cluster.etcd.endpoint);
    const cpu0 = await sum(pids, cpuMs);
    const fleet0 = process.cpuUsage();
    const t = performance.now();
    await pool(renewals, 16, (i) => nodes[i % n].renewOnce(ac.signal));
    const wall = performance.now() - t;
    const server = (await sum(pids, cpuMs)) - cpu0;
    const fu = process.cpuUsage(fleet0);
    const etcdCpu = etcdPid === undefined ? '–' : (((await cpuMs(etcdPid)) - etcdCpu0) / renewals).toFixed(2);
    const rss = await sum(pids, rssMiB);
    let calls = '–';
    if (calls0 !== undefined && cluster.etcd !== undefined) {
      const after = await etcdCalls(cluster.etcd.endpoint);
      calls = [...after].map(([m, c]) => [m, (c - (calls0.get(m) ?? 0)) / renewals] as const).filter(([, c]) => c >= 0.01).map(([m, c]) => `${m} ${c.toFixed(2)}`).join(', ');
    }
    return [cluster.label, n, renewals, (server / renewals).toFixed(2), etcdCpu, calls, ((fu.user + fu.system) / 1000 / renewals).toFixed(2), ((renewals * 1000) / wall).toFixed(0), rss.toFixed(0), loadavg().map((l) => l.toFixed(1)).join(' ')];
  } finally {
    ac.abort();
    await admin.close();
    await stopCluster(cluster, n);
  }
}

/** unary calls etcd has served so far, by method (its own `grpc_server_handled_total`, from /metrics) */
async function etcdCalls(endpoint: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  const calls = new Map<string, number>();
  for (const m of text.matchAll(/^grpc_server_handled_total\{([^}]*)\} (\S+)$/gm)) {
    const method = /grpc_method="([^"]+)"/.exec(m[1])?.[1];
    if (method === undefined || !m[1].includes('grpc_type="unary"')) continue;
    calls.set(method, (calls.get(method) ?? 0) + Number(m[2]));
  }
  return calls;
}

if (values['renew-cpu']) {
  const cpuRows: Row[] = [['store', 'nodes', 'renewals', 'apiserver CPU ms / renewal', 'etcd CPU ms / renewal', 'etcd calls / renewal', 'fleet CPU ms / renewal', 'renewals/s', 'apiserver RSS MiB', 'load avg']];
  for (const store of stores) for (const n of sizes) cpuRows.push(await renewCpu(store, n, Number(values['renew-cpu'])));
  printTable('lease renewal CPU cost (back to back, 16 in flight)', cpuRows);
  process.exit(0);
}

const rows: Row[] = [HEADERS];
for (const store of stores) {
  for (const n of sizes) {
    const row = await runSize(store, n);
    rows.push(row);
    process.stderr.write(`${row.join(' | ')}\n`);
  }
}
printTable(`hollow fleet: nodes renewing leases every ${RENEW_MS / 1000} s, reporting node status every ${statusReportMs > 0 ? `${statusReportMs / 1000} s (first ±half at random)` : '- (off)'}, one pod per node (steady window ${steadyMs / 1000} s; server V8 flags ${serverFlags}; 2-core machine shared with other jobs)`, rows);
