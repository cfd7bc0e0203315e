/**
 * Scheduler throughput: pods bound per second with 100 nodes and N pending pods (all fit),
 * side by side on the in-memory fake API and against a real `hedge server` (SQLite; nodes and
 * pods created through the API, no agents, the server's own controllers off so only this
 * scheduler binds). Prints a table per run and a summary of batched vs per-pod binds per size;
 * asserts that every pod ends bound where the scheduler's cache has it.
 * Run: node --import tsx bench/scheduler.ts [--nodes 100] [--pods 1000[,5000,10000]] [--mode both|fake|real]
 *      [--server-prof DIR] [--bind-batch N] [--bind-concurrency N] [--baseline DIR [--rounds N]]
 *      [--trace] [--stall-timeout S]
 * (`--pods` takes a list: each size gets its own fresh server, and the summary puts them side by side)
 * (`--bind-batch N`: the client sends the binds of one turn as `bindings` Lists of up to N
 * (default 250, with 1,000 binds in flight); 0 binds each pod with its own pods/binding request,
 * 16 in flight: today's path, also run as its own row)
 * (`--server-prof` writes the real server's V8 CPU profile into DIR; `--baseline DIR` runs the same
 * bench from another checkout first, e.g. main's: `git worktree add /tmp/base main`, its server and
 * scheduler against the same load, and prints its rows beside these; `--rounds` alternates them)
 * (`--trace` prints what the bench is doing every 5 s on stderr; whatever the flag, when nothing has
 * moved for `--stall-timeout` seconds (default 60) the bench says what it waited for — with the
 * scheduler's reason when a pod fits nowhere — and exits 1)
 *
 * `--mode churn` is another case: wasted work rather than throughput. `--churn-pods` (default 2,000)
 * pods that fit nowhere (half by node selector, half by cpu) wait while the in-memory API gets
 * `--heartbeats` node status heartbeats/s (default 50: lastHeartbeatTime only), `--pv-updates`
 * PersistentVolume and as many PVC status-only updates/s (default 5) and `--label-updates` node label
 * changes/s that match none of the pods (default 1), for `--seconds` (default 30). It prints the
 * scheduling attempts per second (every one wasted: nothing can fit) and the CPU they cost.
 */
import { spawn } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { FakeKubeClient } from '../src/client/fake-client.ts';
import { HttpKubeClient } from '../src/client/http-client.ts';
import { loadKubeconfig } from '../src/client/kubeconfig.ts';
import { Resources } from '../src/client/resources.ts';
import type { KubeClient } from '../src/client/types.ts';
import { silentLogger } from '../src/lib/log.ts';
import type { KubeObject } from '../src/api/object.ts';
import { makePod } from '../src/controllers/testing/objects.ts';
import { Scheduler } from '../src/controllers/scheduler/scheduler.ts';
import {
  benchCapacityError,
  createBenchNodes,
  createBenchPods,
  pool,
  schedulerScenarios as scenarios,
  type SchedulerScenario,
} from '../src/controllers/testing/scheduler-scenarios.ts';
import { startHedgeServer } from '../test/e2e/harness.ts';
import { cpuMs, printTable, rssMiB } from './apiserver-seed.ts';

const { values, positionals } = parseArgs({
  options: {
    nodes: { type: 'string' },
    pods: { type: 'string' },
    mode: { type: 'string', default: 'both' },
    'server-prof': { type: 'string' },
    'bind-concurrency': { type: 'string' },
    'bind-batch': { type: 'string' },
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    trace: { type: 'boolean', default: false },
    'stall-timeout': { type: 'string', default: '60' },
    'churn-pods': { type: 'string', default: '2000' },
    heartbeats: { type: 'string', default: '50' },
    'pv-updates': { type: 'string', default: '5' },
    'label-updates': { type: 'string', default: '1' },
    seconds: { type: 'string', default: '30' },
  },
  allowPositionals: true,
});
// positional [nodes] [pods] kept for older invocations
const nodes = Number(values.nodes ?? positionals[0] ?? 100);
const sizes = String(values.pods ?? positionals[1] ?? 1000).split(',').map(Number);
const mode = values.mode;
if (!['both', 'fake', 'real', 'churn'].includes(mode ?? '')) throw new Error(`--mode ${mode}: want both, fake, real or churn`);
for (const n of sizes) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`--pods ${values.pods}: want positive integers, comma-separated`);
  const why = benchCapacityError(nodes, n);
  if (why) throw new Error(`--pods ${n}: ${why}`);
}

/**
 * What the bench waits for now: a line every 5 s with --trace; when its progress count has not
 * moved for --stall-timeout seconds the bench prints the wait (and `stuck()`'s explanation) and exits 1.
 */
const progress = { phase: 'start', detail: (): string => '', count: (): number => 0, stuck: (): string => '' };
let lastCount = -1;
let movedAt = Date.now();
const stallMs = Number(values['stall-timeout']) * 1000;
const watchdog = setInterval(() => {
  const count = progress.count();
  if (count !== lastCount) {
    lastCount = count;
    movedAt = Date.now();
  }
  const line = `${progress.phase}: ${progress.detail()}`;
  if (values.trace) process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  if (Date.now() - movedAt > stallMs) {
    process.stderr.write(`bench/scheduler: nothing moved for ${values['stall-timeout']} s; waiting in ${line}\n`);
    const why = progress.stuck();
    if (why) process.stderr.write(`${why}\n`);
    process.exit(1);
  }
}, 5000);
watchdog.unref();
function phase(name: string, count: () => number, detail: () => string = () => '', stuck: () => string = () => ''): void {
  Object.assign(progress, { phase: name, count, detail, stuck });
  lastCount = -1;
}

/** `pods` pending pods of `sc` in namespace `ns`, the nodes first when asked */
async function seed(client: KubeClient, ns: string, sc: SchedulerScenario, pods: number, withNodes: boolean): Promise<void> {
  if (withNodes) {
    phase('create nodes', () => 0, () => `${nodes} nodes`);
    await createBenchNodes(client, nodes);
  }
  let created = 0;
  phase(`seed ${ns}`, () => created, () => `${created}/${pods} pods created`);
  await createBenchPods(client, sc, { ns, nodes, pods, onCreated: () => created++ });
}

/** binds per `bindings` request (0: one pods/binding request per pod) */
const bindBatch = Number(values['bind-batch'] ?? 250);

/** time from scheduler start (informer sync included) until every pod is bound */
async function schedule(
  client: KubeClient,
  pods: number,
  batched: boolean,
  serverPid?: number,
): Promise<{ ms: number; failed: number; serverCpu?: number; benchCpu: number; placed: Map<string, string> }> {
  const concurrency = values['bind-concurrency'] ? Number(values['bind-concurrency']) : batched ? 4 * bindBatch : undefined;
  const s = new Scheduler({ client, logger: silentLogger(), bindConcurrency: concurrency });
  const ac = new AbortController();
  const mark0 = process.hrtime.bigint();
  const server0 = serverPid === undefined ? undefined : await cpuMs(serverPid);
  const bench0 = process.cpuUsage();
  const t0 = performance.now();
  const done = s.run(ac.signal);
  phase(
    'schedule',
    () => s.stats.bound + s.pods.size,
    () => {
      const st = s.stats;
      return `informers synced ${s.pods.hasSynced()}/${s.nodeInformer.hasSynced()} (${s.pods.size} pods), ${s.pending} queued, ` +
        `${st.bound}/${pods} bound, ${s.assumedPods} assumed, ${st.bindErrors} bind errors, ${st.failedAttempts} failed attempts`;
    },
    () => {
      // the scheduler's own reason for one pod that is still unbound and not in flight
      const placed = s.placements();
      const pod = s.pods.list().find((p) => !p.spec?.nodeName && !placed.has(`${p.metadata.namespace}/${p.metadata.name}`));
      if (!pod) return '';
      const r = s.findNode(pod);
      return `e.g. ${pod.metadata.namespace}/${pod.metadata.name}: ${r.kind === 'fit' ? `fits ${r.node}, not bound yet` : r.message}`;
    },
  );
  while (s.stats.bound < pods) await new Promise((r) => setTimeout(r, s.stats.bound === 0 ? 1 : 5));
  const ms = performance.now() - t0;
  const benchUsage = process.cpuUsage(bench0);
  const benchCpu = (benchUsage.user + benchUsage.system) / 1000;
  const serverCpu = serverPid === undefined || server0 === undefined ? undefined : (await cpuMs(serverPid)) - server0;
  // the monotonic clock V8 profiles use (µs): cut a --server-prof profile to the scheduling window
  if (values['server-prof']) process.stderr.write(`profile window µs: ${mark0 / 1000n} ${process.hrtime.bigint() / 1000n}\n`);
  // the cache must end consistent: every assumed pod confirmed by the informer, none bound twice or lost
  phase('confirm', () => -s.assumedPods, () => `${s.assumedPods} assumed pods not yet seen bound by the informer`);
  while (s.assumedPods > 0) await new Promise((r) => setTimeout(r, 5));
  const placed = s.placements();
  ac.abort();
  await done;
  if (s.stats.bound !== pods || s.stats.bindErrors !== 0) throw new Error(`${s.stats.bound} binds succeeded and ${s.stats.bindErrors} failed for ${pods} pods`);
  return { ms, failed: s.stats.failedAttempts, serverCpu, benchCpu, placed };
}

const header = [
  'api', 'binds', 'scenario', 'nodes', 'pods', 'ms (incl. informer sync)', 'pods/s', 'failed attempts',
  'scheduler CPU ms/pod', 'apiserver CPU ms/pod', 'pods/s on 2 idle cores', 'server RSS MiB',
];
const rows: (string | number)[][] = [header];
const perPod = (ms: number | undefined, pods: number): string => (ms === undefined ? '-' : (ms / pods).toFixed(2));
/**
 * What the CPU alone allows on two idle cores: the scheduler and the apiserver each run on one
 * (a pipeline), so the busier one sets the pace. Less sensitive to the machine's load than pods/s.
 */
const idlePodsPerSec = (cpuMsPerPod: number[]): string => String(Math.round(1000 / Math.max(...cpuMsPerPod)));

/** one real-server run: binds mode, pods/s and CPU per pod, for the summary */
interface RealResult {
  scenario: string;
  pods: number;
  batched: boolean;
  podsPerSec: number;
  sched: number;
  api: number;
  rss?: number;
}
const results: RealResult[] = [];

if (mode === 'churn') {
  await churn();
  clearInterval(watchdog);
  process.exit(0);
}

/**
 * `--mode churn`: pods that fit nowhere, cluster updates that cannot change that, and the attempts
 * the scheduler spends on them anyway (see the header).
 */
async function churn(): Promise<void> {
  const n = Number(values['churn-pods']);
  const seconds = Number(values.seconds);
  const rates = { heartbeats: Number(values.heartbeats), pv: Number(values['pv-updates']), labels: Number(values['label-updates']) };
  const client = new FakeKubeClient();
  client.recordCalls = false;
  phase('churn: seed', () => 0, () => `${nodes} nodes, ${n} pods`);
  await createBenchNodes(client, nodes);
  const pvs = 10;
  for (let i = 0; i < pvs; i++) {
    await client.create(Resources.persistentvolumes, {
      apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: `pv-${i}` },
      spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: 'manual', hostPath: { path: `/tmp/pv-${i}` } },
      status: { phase: 'Available' },
    } as KubeObject);
    await client.create(Resources.persistentvolumeclaims, {
      apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: `claim-${i}`, namespace: 'default' },
      spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'manual', resources: { requests: { storage: '1Gi' } } },
      status: { phase: 'Pending' },
    } as KubeObject);
  }
  await pool(n, 16, async (i) => {
    const pod = i % 2 === 0 ? makePod(`stuck-${i}`, { nodeSelector: { disk: 'nvme' } }) : makePod(`stuck-${i}`, { cpu: '64' });
    await client.create(Resources.pods, pod);
  });
  const s = new Scheduler({ client, logger: silentLogger() });
  const ac = new AbortController();
  const done = s.run(ac.signal);
  // every pod tried once (and its FailedScheduling written) before the window opens
  phase('churn: first attempts', () => s.stats.failedAttempts, () => `${s.stats.failedAttempts}/${n} attempted`);
  while (s.stats.failedAttempts < n) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 1500));
  const attempts0 = s.stats.failedAttempts;
  const cpu0 = process.cpuUsage();
  let tick = 0;
  const stamp = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const updates = { heartbeats: 0, pv: 0, labels: 0 };
  phase('churn: window', () => tick, () => `${updates.heartbeats} heartbeats, ${updates.pv} PV+PVC updates, ${s.stats.failedAttempts - attempts0} attempts`);
  const t0 = performance.now();
  // 10 rounds a second, each a tenth of every rate
  for (; performance.now() - t0 < seconds * 1000; tick++) {
    const round = async (count: number, fn: (i: number) => Promise<void>): Promise<void> => {
      const k = Math.floor(((tick + 1) * count) / 10) - Math.floor((tick * count) / 10);
      for (let j = 0; j < k; j++) await fn(Math.floor((tick * count) / 10) + j);
    };
    await round(rates.heartbeats, async (i) => {
      const node = s.nodeInformer.get(`node-${i % nodes}`);
      if (!node) return;
      const conditions = (node.status?.conditions ?? []).map((c) => (c.type === 'Ready' ? { ...c, lastHeartbeatTime: stamp() } : c));
      await client.updateStatus(Resources.nodes, { ...node, status: { ...node.status, conditions } } as KubeObject);
      updates.heartbeats++;
    });
    await round(rates.pv, async (i) => {
      const pv = s.volumes.get(`pv-${i % pvs}`);
      if (pv) await client.updateStatus(Resources.persistentvolumes, { ...pv, status: { ...pv.status, lastPhaseTransitionTime: stamp() } } as KubeObject);
      const pvc = s.claims.get(`claim-${i % pvs}`, 'default');
      if (pvc) await client.updateStatus(Resources.persistentvolumeclaims, { ...pvc, status: { ...pvc.status, conditions: [{ type: 'Resizing', status: i % 2 ? 'True' : 'False' }] } } as KubeObject);
      updates.pv++;
    });
    await round(rates.labels, async (i) => {
      const node = s.nodeInformer.get(`node-${i % nodes}`);
      if (node) await client.update(Resources.nodes, { ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, rack: `r${i}` } } } as KubeObject);
      updates.labels++;
    });
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + (tick + 1) * 100 - performance.now())));
  }
  const elapsed = (performance.now() - t0) / 1000;
  const usage = process.cpuUsage(cpu0);
  const attempts = s.stats.failedAttempts - attempts0;
  ac.abort();
  await done;
  printTable(`scheduler churn: ${n} pods that fit nowhere over ${nodes} nodes, ${elapsed.toFixed(0)} s`, [
    ['heartbeats/s', 'PV + PVC status updates/s', 'node label updates/s', 'attempts', 'attempts/s (all wasted)', 'CPU ms/s (scheduler + API fake + driver)'],
    [rates.heartbeats, rates.pv, rates.labels, attempts, (attempts / elapsed).toFixed(1), ((usage.user + usage.system) / 1000 / elapsed).toFixed(0)],
  ]);
}

if (mode !== 'real') {
  for (const pods of sizes) {
    for (const sc of scenarios) {
      const client = new FakeKubeClient();
      client.recordCalls = false;
      await seed(client, 'default', sc, pods, true);
      const r = await schedule(client, pods, false);
      rows.push(['in-memory fake', 'per pod', sc.label, nodes, pods, Math.round(r.ms), Math.round((pods / r.ms) * 1000), r.failed, perPod(r.benchCpu, pods), '-', '-', '-']);
    }
  }
}

/** the baseline checkout's own bench (real server only), its table rows parsed back */
async function baselineRows(dir: string, pods: number): Promise<string[][]> {
  const script = resolvePath(dir, 'bench/scheduler.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, '--mode', 'real', '--nodes', String(nodes), '--pods', String(pods)], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  phase(`baseline bench in ${dir}`, () => out.length, () => `${pods} pods`);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`baseline bench in ${dir} exited ${code}`);
  return out
    .split('\n')
    .filter((l) => l.startsWith('hedge server (sqlite)'))
    .map((l) => l.split(/\s{2,}/).map((c) => c.trim()));
}

/** every binds mode × scenario on one fresh server with `pods` pending pods per run */
async function realRuns(pods: number): Promise<void> {
  const server = await startHedgeServer({ store: 'sqlite', extraArgs: ['--no-controllers'], timeoutMs: 120_000, // a loaded machine starts slowly
    ...(values['server-prof'] ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${values['server-prof']}`] } : {}),
  });
  const kubeconfig = await loadKubeconfig(server.kubeconfig);
  const client = new HttpKubeClient({ ...kubeconfig, userAgent: 'hedge-bench-scheduler' });
  const batching = bindBatch > 0 ? new HttpKubeClient({ ...kubeconfig, userAgent: 'hedge-bench-scheduler', bindBatchSize: bindBatch }) : undefined;
  // each scenario with batched binds, then with one request per pod (that one gets the warmer server)
  const runs = scenarios.flatMap((sc) => [...(batching ? [{ sc, c: batching, label: `batched (≤${bindBatch}/request)` }] : []), { sc, c: client, label: 'per pod' }]);
  const mine: { row: (string | number)[]; result: RealResult }[] = [];
  try {
    for (const [i, run] of runs.entries()) {
      // one namespace per run: the nodes stay, the earlier run's pods are deleted first so every run starts empty
      const ns = `bench-${i}`;
      if (i > 0) {
        const prev = `bench-${i - 1}`;
        let deleted = 0;
        phase(`delete ${prev}`, () => deleted, () => `${deleted}/${pods} pods deleted`);
        await pool(pods, 16, async (j) => {
          await client.delete(Resources.pods, `pod-${j}`, { namespace: prev, gracePeriodSeconds: 0 }).catch(() => undefined);
          deleted++;
        });
      }
      await seed(client, ns, run.sc, pods, i === 0);
      const r = await schedule(run.c, pods, run.c === batching, server.pid);
      phase(`list ${ns}`, () => 0);
      const list = await client.list(Resources.pods, { namespace: ns });
      const nodeOf = new Map(list.items.map((p) => [p.metadata.name ?? '', (p as { spec?: { nodeName?: string } }).spec?.nodeName]));
      const bound = [...nodeOf.values()].filter(Boolean).length;
      if (bound !== pods) throw new Error(`${run.sc.label}: ${bound} of ${pods} pods bound in the API`);
      // the scheduler's cache holds each pod on the node the API has it on
      const wrong = [...nodeOf].filter(([name, node]) => r.placed.get(`${ns}/${name}`) !== node);
      if (wrong.length > 0) throw new Error(`${run.sc.label}: the scheduler's cache has ${wrong.length} pods elsewhere than the API (e.g. ${wrong[0][0]})`);
      const sched = r.benchCpu / pods;
      const api = (r.serverCpu ?? 0) / pods;
      const podsPerSec = Math.round((pods / r.ms) * 1000);
      mine.push({
        row: ['hedge server (sqlite)', run.label, run.sc.label, nodes, pods, Math.round(r.ms), podsPerSec, r.failed, sched.toFixed(2), api.toFixed(2), idlePodsPerSec([sched, api])],
        result: { scenario: run.sc.label, pods, batched: run.c === batching, podsPerSec, sched, api },
      });
    }
    const rss = await rssMiB(server.pid);
    for (const m of mine) {
      rows.push([...m.row, rss.toFixed(0)]);
      results.push({ ...m.result, rss });
    }
  } finally {
    await client.close();
    await batching?.close();
    await server.stop();
    await server.cleanup();
  }
}

const rounds = values.baseline ? Math.max(1, Number(values.rounds)) : 1;
for (let round = 0; round < rounds; round++) {
  for (const pods of sizes) {
    if (values.baseline) {
      for (const r of await baselineRows(values.baseline, pods)) {
        // older baselines: no binds column (9 cells), no RSS column (11)
        const cells = r.length >= 11 ? r : [r[0], 'per pod', ...r.slice(1, 9), idlePodsPerSec([Number(r[7]), Number(r[8])])];
        rows.push([`baseline: ${cells[0]}`, ...cells.slice(1), ...(cells.length < header.length ? ['-'] : [])]);
      }
    }
    if (mode !== 'fake') await realRuns(pods);
  }
}
clearInterval(watchdog);

printTable(`scheduler: ${sizes.join(' / ')} pending pods over ${nodes} nodes (binds through pods/binding)`, rows);
if (results.length > 0) {
  // batched beside per-pod binds of the same scenario and size (medians over --rounds)
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const pick = (sc: string, pods: number, batched: boolean): RealResult[] => results.filter((r) => r.scenario === sc && r.pods === pods && r.batched === batched);
  const summary: (string | number)[][] = [[
    'scenario', 'pods', 'batched pods/s', 'per-pod pods/s', 'batched ÷ per-pod',
    'scheduler CPU ms/pod (batched / per pod)', 'apiserver CPU ms/pod (batched / per pod)', 'server RSS MiB',
  ]];
  for (const sc of scenarios) {
    for (const pods of sizes) {
      const b = pick(sc.label, pods, true);
      const p = pick(sc.label, pods, false);
      const bps = median(b.map((r) => r.podsPerSec));
      const pps = median(p.map((r) => r.podsPerSec));
      const two = (xs: RealResult[], k: 'sched' | 'api'): string => (xs.length ? median(xs.map((r) => r[k])).toFixed(2) : '-');
      summary.push([
        sc.label, pods, b.length ? bps : '-', p.length ? pps : '-', b.length && p.length ? (bps / pps).toFixed(2) : '-',
        `${two(b, 'sched')} / ${two(p, 'sched')}`, `${two(b, 'api')} / ${two(p, 'api')}`, median([...b, ...p].map((r) => r.rss ?? NaN)).toFixed(0),
      ]);
    }
  }
  printTable('real hedge server: batched `bindings` vs one pods/binding per pod', summary);
}
