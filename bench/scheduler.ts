/**
 * Scheduler throughput on the in-memory API: pods bound per second with 100 nodes and
 * 1,000 pending pods (all fit). Prints a table; asserts nothing.
 * Run: node --import tsx bench/scheduler.ts [nodes] [pods]
 */
import { silentLogger } from '../src/lib/log.ts';
import { FakeKubeClient } from '../src/client/fake-client.ts';
import { Resources } from '../src/client/resources.ts';
import { Scheduler } from '../src/controllers/scheduler/scheduler.ts';
import { makeNode, makePod } from '../src/controllers/testing/objects.ts';

const nodes = Number(process.argv[2] ?? 100);
const pods = Number(process.argv[3] ?? 1000);

async function once(label: string, podOpts: (i: number) => Parameters<typeof makePod>[1]): Promise<string[]> {
  const client = new FakeKubeClient();
  client.recordCalls = false;
  for (let i = 0; i < nodes; i++) {
    await client.create(Resources.nodes, makeNode(`node-${i}`, { cpu: '32', memory: '64Gi', pods: '110', labels: { zone: `z${i % 4}` } }));
  }
  await client.create(Resources.runtimeclasses, { metadata: { name: 'runc' }, handler: 'runc' });
  for (let i = 0; i < pods; i++) await client.create(Resources.pods, makePod(`pod-${i}`, podOpts(i)));
  const s = new Scheduler({ client, logger: silentLogger() });
  const ac = new AbortController();
  const t0 = performance.now();
  const done = s.run(ac.signal);
  while (s.stats.bound < pods) await new Promise((r) => setImmediate(r));
  const ms = performance.now() - t0;
  ac.abort();
  await done;
  return [label, String(nodes), String(pods), ms.toFixed(0), ((pods / ms) * 1000).toFixed(0), String(s.stats.failedAttempts)];
}

const rows = [
  await once('plain (cpu+mem requests)', (i) => ({ cpu: '100m', memory: '128Mi', ownerUid: `rs-${i % 10}` })),
  await once('nodeSelector + runtimeClass + hostPort', (i) => ({
    cpu: '100m',
    memory: '128Mi',
    nodeSelector: { zone: `z${i % 4}` },
    runtimeClassName: 'runc',
    hostPort: 10000 + (i % 50),
    ownerUid: `rs-${i % 10}`,
  })),
];

const head = ['scenario', 'nodes', 'pods', 'ms (incl. informer sync)', 'pods/s', 'failed attempts'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(line(head));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
