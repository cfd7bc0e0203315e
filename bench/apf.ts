/**
 * Lease renewals under a LIST flood, with API Priority and Fairness on and off, in one run
 * (docs/targets.md: lease renewal p99 < 1 s). One user floods LIST pods from many concurrent
 * clients (global-default); node users renew their Leases with PATCH (system-node-high →
 * node-high). The load runs in a child process (bench/lib/apf-client.ts). Prints a markdown
 * table; asserts nothing.
 *   node --import tsx bench/apf.ts [--pods N] [--flood N] [--nodes N] [--period-ms N] [--seconds N]
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { allowAllAuthorizer } from '../src/apiserver/auth/authorizer.ts';
import { startTestServer } from '../src/apiserver/testing/test-server.ts';
import { summarize } from './apiserver-seed.ts';

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '500' },
    flood: { type: 'string', default: '200' },
    nodes: { type: 'string', default: '200' },
    'period-ms': { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '15' },
  },
});

interface Result { latencies: number[]; lists: Record<string, number>; renewals: Record<string, number> }

async function run(apf: boolean, inflight?: { maxRequestsInflight: number; maxMutatingRequestsInflight: number }): Promise<Result> {
  // an allow-all authorizer: what is measured is flow control, not RBAC
  const t = await startTestServer({ authorizer: allowAllAuthorizer(), flowControl: { enablePriorityAndFairness: apf, ...inflight } });
  try {
    const post = async (path: string, body: unknown): Promise<void> => {
      const r = await t.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (r.status !== 201) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    };
    for (let i = 0; i < Number(values.pods); i++) {
      await post('/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${i}`, labels: { app: 'bench', i: String(i) } }, spec: { nodeName: `n${i % 10}`, containers: [{ name: 'c', image: 'registry.local/app:1', env: [{ name: 'A', value: 'x'.repeat(200) }] }] } });
    }
    for (let i = 0; i < Number(values.nodes); i++) {
      await post('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: `n${i}` }, spec: { holderIdentity: `n${i}`, leaseDurationSeconds: 40 } });
    }
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/apf-client.ts', t.url, values.flood!, values.nodes!, values['period-ms']!, String(Number(values.seconds) * 1000)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => child.once('exit', r));
    return JSON.parse(out) as Result;
  } finally {
    await t.close();
  }
}

const rows: string[] = [
  `| APF | lease renewals | renewal p50 ms | renewal p99 ms | renewal max ms | renewals not 200 | LISTs 200 | LISTs 429 |`,
  `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
];
// upstream's default seats (600) are far more than one Node event loop runs at once: the last row
// gives the Limited levels 60 seats (global-default then runs 5 LISTs at a time, node-high 10)
const modes: [string, boolean, { maxRequestsInflight: number; maxMutatingRequestsInflight: number } | undefined][] = [
  ['on (400+200 seats)', true, undefined],
  ['off (max-in-flight 400/200)', false, undefined],
  ['on (40+20 seats)', true, { maxRequestsInflight: 40, maxMutatingRequestsInflight: 20 }],
];
for (const [label, apf, inflight] of modes) {
  const r = await run(apf, inflight);
  const s = summarize(r.latencies);
  const not200 = Object.entries(r.renewals).filter(([k]) => k !== '200').reduce((n, [, v]) => n + v, 0);
  rows.push(`| ${label} | ${r.latencies.length} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.max.toFixed(1)} | ${not200} | ${r.lists['200'] ?? 0} | ${r.lists['429'] ?? 0} |`);
}
process.stdout.write(`\nLease renewals (PATCH, ${values.nodes} nodes every ${values['period-ms']} ms) under ${values.flood} clients LISTing ${values.pods} pods as one user, ${values.seconds} s each\n\n${rows.join('\n')}\n`);
