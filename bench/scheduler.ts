/**
 * Scheduler throughput: pods bound per second with 100 nodes and 1,000 pending pods (all fit),
 * side by side on the in-memory fake API and against a real `hedge server` (SQLite; nodes and
 * pods created through the API, no agents, the server's own controllers off so only this
 * scheduler binds). Prints a table; asserts nothing.
 * Run: node --import tsx bench/scheduler.ts [--nodes 100] [--pods 1000] [--mode both|fake|real] [--server-prof DIR]
 *      [--bind-batch N] [--bind-concurrency N] [--baseline DIR [--rounds N]]
 * (`--bind-batch N`: the client sends the binds of one turn as `bindings` Lists of up to N
 * (default 250, with 1,000 binds in flight); 0 binds each pod with its own pods/binding request,
 * 16 in flight: today's path, also run as its own row)
 * (`--server-prof` writes the real server's V8 CPU profile into DIR; `--baseline DIR` runs the same
 * bench from another checkout first, e.g. main's: `git worktree add /tmp/base main`, its server and
 * scheduler against the same load, and prints its rows beside these; `--rounds` alternates them)
 */
import { spawn } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import type { KubeObject } from '../src/api/object.ts';
import { FakeKubeClient } from '../src/client/fake-client.ts';
import { HttpKubeClient } from '../src/client/http-client.ts';
import { loadKubeconfig } from '../src/client/kubeconfig.ts';
import { Resources } from '../src/client/resources.ts';
import type { KubeClient } from '../src/client/types.ts';
import { isHedgeError } from '../src/lib/errors.ts';
import { silentLogger } from '../src/lib/log.ts';
import { Scheduler } from '../src/controllers/scheduler/scheduler.ts';
import { makeNode, makePod } from '../src/controllers/testing/objects.ts';
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
  },
  allowPositionals: true,
});
// positional [nodes] [pods] kept for older invocations
const nodes = Number(values.nodes ?? positionals[0] ?? 100);
const pods = Number(values.pods ?? positionals[1] ?? 1000);
const mode = values.mode;
if (!['both', 'fake', 'real'].includes(mode ?? '')) throw new Error(`--mode ${mode}: want both, fake or real`);

type PodOpts = Parameters<typeof makePod>[1];
interface Scenario {
  label: string;
  pod: (i: number) => PodOpts;
}
const scenarios: Scenario[] = [
  { label: 'plain (cpu+mem requests)', pod: (i) => ({ cpu: '100m', memory: '128Mi', ownerUid: `rs-${i % 10}` }) },
  {
    label: 'nodeSelector + runtimeClass + hostPort',
    pod: (i) => ({ cpu: '100m', memory: '128Mi', nodeSelector: { zone: `z${i % 4}` }, runtimeClassName: 'runc', hostPort: 10000 + (i % 50), ownerUid: `rs-${i % 10}` }),
  },
];

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await fn(next++);
  }));
}

/** nodes (Ready, 32 cpu / 64 Gi), the runc RuntimeClass and `pods` pending pods in namespace `ns` */
async function seed(client: KubeClient, ns: string, sc: Scenario, createNodes: boolean): Promise<void> {
  if (createNodes) {
    await pool(nodes, 8, async (i) => {
      const n = makeNode(`node-${i}`, { cpu: '32', memory: '64Gi', pods: '110', labels: { zone: `z${i % 4}` } });
      const created = await client.create(Resources.nodes, n);
      // a real apiserver ignores status on create: post it as a node agent would
      await client.updateStatus(Resources.nodes, { ...created, status: n.status } as KubeObject);
    });
    try {
      await client.create(Resources.runtimeclasses, { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'runc' }, handler: 'runc' } as KubeObject);
    } catch (err) {
      if (!isHedgeError(err, 'AlreadyExists')) throw err;
    }
  }
  if (ns !== 'default') {
    // hostPort is outside the default PodSecurity level (baseline): the namespace opts out as a user would
    const labels = { 'pod-security.kubernetes.io/enforce': 'privileged' };
    await client.create(Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } }).catch((err: unknown) => {
      if (!isHedgeError(err, 'AlreadyExists')) throw err;
    });
  }
  await pool(pods, 16, async (i) => {
    await client.create(Resources.pods, makePod(`pod-${i}`, { ...sc.pod(i), namespace: ns }));
  });
}

/** binds per `bindings` request (0: one pods/binding request per pod) */
const bindBatch = Number(values['bind-batch'] ?? 250);

/** time from scheduler start (informer sync included) until every pod is bound */
async function schedule(
  client: KubeClient,
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
  while (s.stats.bound < pods) await new Promise((r) => setTimeout(r, s.stats.bound === 0 ? 1 : 5));
  const ms = performance.now() - t0;
  const benchUsage = process.cpuUsage(bench0);
  const benchCpu = (benchUsage.user + benchUsage.system) / 1000;
  const serverCpu = serverPid === undefined || server0 === undefined ? undefined : (await cpuMs(serverPid)) - server0;
  // the monotonic clock V8 profiles use (µs): cut a --server-prof profile to the scheduling window
  if (values['server-prof']) process.stderr.write(`profile window µs: ${mark0 / 1000n} ${process.hrtime.bigint() / 1000n}\n`);
  // the cache must end consistent: every assumed pod confirmed by the informer, none bound twice or lost
  const deadline = Date.now() + 30_000;
  while (s.assumedPods > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const placed = s.placements();
  ac.abort();
  await done;
  if (s.stats.bound !== pods || s.stats.bindErrors !== 0) throw new Error(`${s.stats.bound} binds succeeded and ${s.stats.bindErrors} failed for ${pods} pods`);
  if (s.assumedPods !== 0) throw new Error(`${s.assumedPods} assumed pods never confirmed by the informer`);
  return { ms, failed: s.stats.failedAttempts, serverCpu, benchCpu, placed };
}

const rows: (string | number)[][] = [
  ['api', 'binds', 'scenario', 'nodes', 'pods', 'ms (incl. informer sync)', 'pods/s', 'failed attempts', 'scheduler CPU ms/pod', 'apiserver CPU ms/pod', 'pods/s on 2 idle cores'],
];
const perPod = (ms: number | undefined): string => (ms === undefined ? '-' : (ms / pods).toFixed(2));
/**
 * What the CPU alone allows on two idle cores: the scheduler and the apiserver each run on one
 * (a pipeline), so the busier one sets the pace. Less sensitive to the machine's load than pods/s.
 */
const idlePodsPerSec = (cpuMsPerPod: number[]): string => String(Math.round(1000 / Math.max(...cpuMsPerPod)));

if (mode !== 'real') {
  for (const sc of scenarios) {
    const client = new FakeKubeClient();
    client.recordCalls = false;
    await seed(client, 'default', sc, true);
    const r = await schedule(client, false);
    rows.push(['in-memory fake', 'per pod', sc.label, nodes, pods, Math.round(r.ms), Math.round((pods / r.ms) * 1000), r.failed, perPod(r.benchCpu), '-', '-']);
  }
}

/** the baseline checkout's own bench (real server only), its table rows parsed back */
async function baselineRows(dir: string): Promise<string[][]> {
  const script = resolvePath(dir, 'bench/scheduler.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, '--mode', 'real', '--nodes', String(nodes), '--pods', String(pods)], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`baseline bench in ${dir} exited ${code}`);
  return out
    .split('\n')
    .filter((l) => l.startsWith('hedge server (sqlite)'))
    .map((l) => l.split(/\s{2,}/).map((c) => c.trim()));
}

let serverRss: number | undefined;
const rounds = values.baseline ? Math.max(1, Number(values.rounds)) : 1;
for (let round = 0; round < rounds; round++) {
  if (values.baseline) {
    for (const r of await baselineRows(values.baseline)) {
      // the baseline's columns: api, scenario, nodes, pods, ms, pods/s, failed, scheduler ms/pod, apiserver ms/pod
      if (r.length >= 11) rows.push([`baseline: ${r[0]}`, ...r.slice(1)]);
      else rows.push([`baseline: ${r[0]}`, 'per pod', ...r.slice(1, 9), idlePodsPerSec([Number(r[7]), Number(r[8])])]);
    }
  }
  if (mode !== 'fake') {
    const server = await startHedgeServer({ store: 'sqlite', extraArgs: ['--no-controllers'],
      ...(values['server-prof'] ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${values['server-prof']}`] } : {}),
    });
    const kubeconfig = await loadKubeconfig(server.kubeconfig);
    const client = new HttpKubeClient({ ...kubeconfig, userAgent: 'hedge-bench-scheduler' });
    const batching = bindBatch > 0 ? new HttpKubeClient({ ...kubeconfig, userAgent: 'hedge-bench-scheduler', bindBatchSize: bindBatch }) : undefined;
    // each scenario with batched binds, then with one request per pod (that one gets the warmer server)
    const runs = scenarios.flatMap((sc) => [...(batching ? [{ sc, c: batching, label: `batched (≤${bindBatch}/request)` }] : []), { sc, c: client, label: 'per pod' }]);
    try {
      for (const [i, run] of runs.entries()) {
        // one namespace per run: the nodes stay, the earlier run's pods are deleted first so every run starts empty
        const ns = `bench-${i}`;
        if (i > 0) {
          const prev = `bench-${i - 1}`;
          await pool(pods, 16, async (j) => {
            await client.delete(Resources.pods, `pod-${j}`, { namespace: prev, gracePeriodSeconds: 0 }).catch(() => undefined);
          });
        }
        await seed(client, ns, run.sc, i === 0);
        const r = await schedule(run.c, run.c === batching, server.pid);
        const list = await client.list(Resources.pods, { namespace: ns });
        const nodeOf = new Map(list.items.map((p) => [p.metadata.name ?? '', (p as { spec?: { nodeName?: string } }).spec?.nodeName]));
        const bound = [...nodeOf.values()].filter(Boolean).length;
        if (bound !== pods) throw new Error(`${run.sc.label}: ${bound} of ${pods} pods bound in the API`);
        // the scheduler's cache holds each pod on the node the API has it on
        const wrong = [...nodeOf].filter(([name, node]) => r.placed.get(`${ns}/${name}`) !== node);
        if (wrong.length > 0) throw new Error(`${run.sc.label}: the scheduler's cache has ${wrong.length} pods elsewhere than the API (e.g. ${wrong[0][0]})`);
        const sched = r.benchCpu / pods;
        const api = (r.serverCpu ?? 0) / pods;
        rows.push(['hedge server (sqlite)', run.label, run.sc.label, nodes, pods, Math.round(r.ms), Math.round((pods / r.ms) * 1000), r.failed, sched.toFixed(2), api.toFixed(2), idlePodsPerSec([sched, api])]);
      }
      serverRss = await rssMiB(server.pid);
    } finally {
      await client.close();
      await batching?.close();
      await server.stop();
      await server.cleanup();
    }
  }
}

printTable(`scheduler: ${pods} pending pods over ${nodes} nodes (binds through pods/binding)`, rows);
if (serverRss !== undefined) process.stdout.write(`hedge server RSS after the runs: ${serverRss.toFixed(0)} MiB\n`);
