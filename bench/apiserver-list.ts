/**
 * List latency and memory of `hedge server` with 100 nodes + 1,000 pods (docs/targets.md:
 * `kubectl get pods -A` p50 < 150 ms; RSS <= 150 MB). Prints a table; asserts nothing.
 *   node --import tsx bench/apiserver-list.ts [--pods N] [--nodes N] [--runs N]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { findKubectl, startHedgeServer } from '../test/e2e/harness.ts';
import { benchPod, printTable, rssMiB, seed, summarize } from './apiserver-seed.ts';

const { values } = parseArgs({
  options: { pods: { type: 'string', default: '1000' }, nodes: { type: 'string', default: '100' }, runs: { type: 'string', default: '30' } },
});
const PODS = Number(values.pods);
const NODES = Number(values.nodes);
const RUNS = Number(values.runs);

const s = await startHedgeServer({ store: 'sqlite' });
try {
  const idleEmpty = await rssMiB(s.pid);
  const t0 = performance.now();
  await seed(s, { nodes: NODES, pods: PODS });
  const seedMs = performance.now() - t0;
  const rssSeeded = await rssMiB(s.pid);

  const time = async (fn: () => Promise<void>): Promise<number[]> => {
    await fn(); // warm-up (discovery cache, JIT)
    const out: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const a = performance.now();
      await fn();
      out.push(performance.now() - a);
    }
    return out;
  };
  const rows: (string | number)[][] = [['what', 'p50 ms', 'p99 ms', 'min ms', 'max ms']];
  const add = (name: string, samples: number[]): void => {
    const r = summarize(samples);
    rows.push([name, r.p50, r.p99, r.min, r.max]);
  };

  // the floor: serializing the same objects in-process, no HTTP, no store
  const objs = Array.from({ length: PODS }, (_, i) => benchPod(i, NODES));
  add('in-process JSON.stringify of the pod list', await time(async () => void JSON.stringify({ kind: 'PodList', items: objs })));
  add('GET /api/v1/pods (JSON, keep-alive)', await time(async () => {
    const r = await s.api('GET', '/api/v1/pods');
    if (r.status !== 200) throw new Error(`list: ${r.status}`);
  }));
  const kubectl = findKubectl();
  if (kubectl !== undefined) {
    add('kubectl version (process start + TLS floor)', await time(async () => void (await s.kubectl(['version', '-o', 'json']))));
    add('kubectl get pods -A', await time(async () => {
      const r = await s.kubectl(['get', 'pods', '-A', '--no-headers']);
      if (r.code !== 0) throw new Error(r.stderr);
    }));
    add('kubectl get nodes', await time(async () => void (await s.kubectl(['get', 'nodes', '--no-headers']))));
  }
  printTable(`hedge server list latency, ${NODES} nodes + ${PODS} pods, ${RUNS} runs each (sqlite)`, rows);
  printTable('hedge server memory', [
    ['state', 'RSS MiB'],
    ['started, empty', idleEmpty],
    [`after seeding ${NODES} nodes + ${PODS} pods`, rssSeeded],
    ['after the list runs', await rssMiB(s.pid)],
  ]);
  process.stdout.write(`\nseeding took ${(seedMs / 1000).toFixed(1)} s (${(((NODES + PODS) * 1000) / seedMs).toFixed(0)} creates/s over HTTPS, 8 in flight)\n`);
} finally {
  await s.stop();
  await s.cleanup();
}
