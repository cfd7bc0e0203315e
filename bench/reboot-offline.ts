/**
 * Reboot while offline (issue 9): an edge node whose host reboots while the cloud is unreachable,
 * time from `hedge node` starting to every pod Running again, per runtime, beside OpenYurt's
 * 49.9 s for the same case. Per runtime: a cloud and an edge in their own network namespaces
 * (test/e2e/partitioned-edge.ts), PODS pods of that runtime (busybox imported into the node), the
 * link cut with nftables, then ROUNDS times: kill -9 the node, remove every process, mount, pod
 * netns and cgroup it had (the data dir stays: test/e2e/simulate-reboot.ts), start it again.
 *
 * "Running again" is when the node wrote the last pod's Running status (to its hub; the cloud is
 * cut off): the pod workers' start traces in the node's debug log, which also give the phase
 * breakdown printed below (process start → modules, images, network, hub, registration from the
 * cache, pods listed, adoption/cleanup, then per pod: runtime class, volumes, sandbox (netns +
 * CNI), image, container create/start, status write). The microVM row is labelled with the
 * accelerator the node reports (kvm or tcg). Prints markdown tables; asserts nothing.
 * Run (root): node --import tsx bench/reboot-offline.ts [rounds=3] [pods=3] [runtimes=runc,gvisor,microvm]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { START_TRACE_MSG, STARTUP_PHASE_MSG, type StartTraceRecord } from '../src/agent/podsync/start-trace.ts';
import { MICROVM_ACCELERATOR_LABEL } from '../src/agent/runtime/microvm/node-setup.ts';
import { buildTestImages } from '../test/fixtures/images/build.ts';
import { REPO_ROOT, run } from '../test/e2e/harness.ts';
import { edgeNodeSkipReason, microvmSkipReason } from '../test/e2e/node-harness.ts';
import { startPartitionedEdge, type PartitionedEdge } from '../test/e2e/partitioned-edge.ts';
import { waitUntil } from '../test/e2e/pod-checks.ts';
import { simulateReboot } from '../test/e2e/simulate-reboot.ts';
import { buildBundle } from '../test/e2e/bundle.ts';
import { launchAsShipped } from './lib/built-agent.ts';

const ROUNDS = Number(process.argv[2] ?? 3);
const PODS = Number(process.argv[3] ?? 3);
const RUNTIMES = (process.argv[4] ?? 'runc,gvisor,microvm').split(',');
const OPENYURT_S = 49.9;
const IMAGE = 'docker.io/hedge/busybox:latest';

const skip = edgeNodeSkipReason(['/usr/sbin/runc', '/usr/bin/conmon', '/usr/sbin/nft', '/usr/lib/cni/bridge', '/usr/bin/nsenter']);
if (skip) {
  console.log(`reboot-offline bench skipped: ${skip}`);
  process.exit(0);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (x: number): string => (Number.isFinite(x) ? (x / 1000).toFixed(2) : '–');

interface Round {
  /** node process spawned → last pod's Running status written (ms) */
  totalMs: number;
  /** startup phase → ms after the process started */
  phases: Map<string, number>;
  /** per pod span name → ms, the slowest pod of the round */
  spans: Map<string, number>;
  /** when the slowest pod's worker was created, ms after the process started */
  firstWorkerAtMs: number;
}

/** the node's JSON log lines since `from` */
function logLines(output: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial line
    }
  }
  return out;
}

async function measureRuntime(rt: string, tmp: string, dockerArchive: string, letter: string, octetBase: number): Promise<{ rounds: Round[]; label: string; note?: string }> {
  const config = join(tmp, `node-${rt}.yaml`);
  await writeFile(config, `guestDir: ${join(tmpdir(), 'hedge-guest-cache')}\nmicrovmAccelerator: auto\n`);
  let edge: PartitionedEdge | undefined;
  try {
    edge = await startPartitionedEdge({ letter, octetBase, tmp, runtimes: [rt], nodeArgs: ['--config', config, '--node-lease-duration-seconds', '8', '--log-level', 'debug'] });
    const { server, node, nodeName } = edge;
    const imp = await run(process.execPath, [join(REPO_ROOT, 'bin', 'hedge.js'), 'image', 'import', dockerArchive, '--data-dir', node.dataDir]);
    if (imp.code !== 0) throw new Error(`image import: ${imp.stderr}`);
    const n = (await server.api('GET', `/api/v1/nodes/${nodeName}`)).body as Node;
    const accel = n.metadata?.labels?.[MICROVM_ACCELERATOR_LABEL];
    const label = rt === 'microvm' ? `microvm (${accel ?? '?'})` : rt;
    const names = Array.from({ length: PODS }, (_, i) => `${rt}-${i}`);
    for (const name of names) {
      const r = await server.api('POST', '/api/v1/namespaces/default/pods', {
        metadata: { name },
        spec: {
          nodeName, runtimeClassName: rt, restartPolicy: 'Always', terminationGracePeriodSeconds: 1, automountServiceAccountToken: false,
          containers: [{ name: 'main', image: IMAGE, imagePullPolicy: 'Never', command: ['sh', '-c', 'exec sleep 36000'] }],
        },
      });
      if (r.status !== 201) throw new Error(`create ${name}: ${JSON.stringify(r.body)}`);
    }
    let lastStatus = '';
    await waitUntil(`${rt} pods Running`, 300_000, async () => {
      const items = ((await server.api('GET', '/api/v1/namespaces/default/pods')).body as { items: Pod[] }).items;
      const first = items.find((p) => p.metadata?.name === names[0])?.status;
      lastStatus = JSON.stringify(first?.containerStatuses?.[0]?.state ?? first?.conditions?.find((c) => c.status !== 'True') ?? first?.phase ?? {});
      return names.every((nm) => items.find((p) => p.metadata?.name === nm)?.status?.containerStatuses?.[0]?.state?.running) ? true : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message.split('\n')[0]}; ${names[0]}: ${lastStatus}`);
    });
    await edge.cut();
    const rounds: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await node.kill9();
      await simulateReboot(node, edge.edgeNetnsName);
      const before = node.output().length;
      const spawnedAt = Date.now();
      await node.start();
      const traces = await waitUntil(`${rt} round ${i}: every pod Running after the reboot`, 300_000, async () => {
        const got = new Map<string, StartTraceRecord>();
        for (const j of logLines(node.output().slice(before))) {
          if (j.msg === START_TRACE_MSG && typeof j.pod === 'string') got.set(j.pod.split('/')[1] ?? '', j.startTrace as StartTraceRecord);
        }
        return names.every((nm) => got.has(nm)) ? got : undefined;
      }, () => node.output().slice(-3000));
      const lines = logLines(node.output().slice(before));
      // the process's epoch origin: a phase line has both its wall time and its ms since start
      const ph = lines.find((j) => j.msg === STARTUP_PHASE_MSG);
      const origin = ph ? Number(ph.time) - Number(ph.atMs) : spawnedAt;
      const phases = new Map<string, number>([['process spawned', spawnedAt - origin]]);
      for (const j of lines) if (j.msg === STARTUP_PHASE_MSG && !phases.has(String(j.startupPhase))) phases.set(String(j.startupPhase), Number(j.atMs));
      const slowest = [...traces.values()].reduce((a, b) => (a.seenAt + a.totalMs >= b.seenAt + b.totalMs ? a : b));
      const spans = new Map<string, number>();
      for (const s of slowest.spans) spans.set(s.name, (spans.get(s.name) ?? 0) + s.ms);
      // HEDGE_BENCH_NODE_LOG=FILE keeps the node's debug log of the last round, for a closer look
      if (process.env.HEDGE_BENCH_NODE_LOG) await writeFile(`${process.env.HEDGE_BENCH_NODE_LOG}.${rt}`, node.output().slice(before));
      rounds.push({ totalMs: slowest.seenAt + slowest.totalMs - spawnedAt, phases, spans, firstWorkerAtMs: slowest.seenAt - origin });
    }
    return { rounds, label };
  } catch (err) {
    return { rounds: [], label: rt, note: (err as Error).message.split('\n')[0]!.slice(0, 300) };
  } finally {
    await edge?.heal().catch(() => undefined);
    if (edge) await edge.server.kubectl(['delete', 'pods', '--all', '--wait=true', '--timeout=60s'], { timeoutMs: 65_000 }).catch(() => undefined);
    await edge?.destroy();
  }
}

const tmp = await mkdtemp(join(tmpdir(), 'bench-reboot-offline-'));
// the node as shipped: the bundle, not its sources through tsx (test/e2e/bundle.ts), with the launcher's flags
launchAsShipped();
const [{ dockerArchive }] = await Promise.all([buildTestImages(join(tmp, 'images')), buildBundle()]);
const results: { rt: string; label: string; rounds: Round[]; note?: string }[] = [];
for (const rt of RUNTIMES) {
  if (rt === 'gvisor' && edgeNodeSkipReason(['/usr/bin/runsc'])) {
    results.push({ rt, label: rt, rounds: [], note: 'no /usr/bin/runsc' });
    continue;
  }
  const mvmSkip = rt === 'microvm' ? microvmSkipReason() : undefined;
  if (mvmSkip) {
    results.push({ rt, label: rt, rounds: [], note: mvmSkip });
    continue;
  }
  results.push({ rt, ...(await measureRuntime(rt, tmp, dockerArchive, 'b', 248)) });
}
await rm(tmp, { recursive: true, force: true });

const load = (await run('cat', ['/proc/loadavg'])).stdout.split(' ')[0];
console.log(`\n### reboot while offline: \`hedge node\` start → all ${PODS} pods Running (median of ${ROUNDS}; load ${load})\n`);
console.log('| runtime | hedge (s) | min – max (s) | OpenYurt (s) | hedge / OpenYurt |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of results) {
  const t = r.rounds.map((x) => x.totalMs);
  const m = median(t);
  console.log(`| ${r.label} | ${fmt(m)} | ${t.length ? `${fmt(Math.min(...t))} – ${fmt(Math.max(...t))}` : r.note ?? '–'} | ${OPENYURT_S} | ${Number.isFinite(m) ? (m / 1000 / OPENYURT_S).toFixed(3) : '–'} |`);
}

console.log('\n### where the time goes (ms after the node process started, median; pod spans: the slowest pod)\n');
const measured = results.filter((r) => r.rounds.length > 0);
console.log(`| phase | ${measured.map((r) => r.label).join(' | ')} |`);
console.log(`| --- | ${measured.map(() => '---').join(' | ')} |`);
const phaseNames = [...new Set(measured.flatMap((r) => r.rounds.flatMap((x) => [...x.phases.keys()])))];
for (const p of phaseNames) console.log(`| at: ${p} | ${measured.map((r) => median(r.rounds.map((x) => x.phases.get(p) ?? NaN).filter(Number.isFinite)).toFixed(0)).join(' | ')} |`);
console.log(`| at: slowest pod's worker created | ${measured.map((r) => median(r.rounds.map((x) => x.firstWorkerAtMs)).toFixed(0)).join(' | ')} |`);
const spanNames = [...new Set(measured.flatMap((r) => r.rounds.flatMap((x) => [...x.spans.keys()])))];
for (const s of spanNames) console.log(`| pod span: ${s} | ${measured.map((r) => median(r.rounds.map((x) => x.spans.get(s) ?? 0)).toFixed(0)).join(' | ')} |`);
console.log(`| total: spawn → last pod Running | ${measured.map((r) => median(r.rounds.map((x) => x.totalMs)).toFixed(0)).join(' | ')} |`);
