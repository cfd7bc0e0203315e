/**
 * RSS of the `hedge node` process (agent; the edgehub is not part of it yet) idle and with 20
 * running runc pods, through the real stack. conmon RSS is shown beside it, since it is per-pod
 * host overhead too. Prints a markdown table; asserts nothing. Needs root.
 * Run: node --import tsx bench/agent-rss.ts [pods=20]
 */
import { readFileSync } from 'node:fs';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startEdgeStack } from '../test/e2e/edge-stack.ts';
import { edgeNodeSkipReason } from '../test/e2e/node-harness.ts';

const pods = Number(process.argv[2] ?? 20);
const skip = edgeNodeSkipReason(['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/bin/busybox']);
if (skip) {
  console.log(`agent-rss bench skipped: ${skip}`);
  process.exit(0);
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
const mib = (kib: number): string => (kib / 1024).toFixed(1);

const stack = await startEdgeStack({ nodeName: `rss-${process.pid}`, runtimes: ['runc'] });
const rows: string[][] = [];
try {
  const api = stack.server.api;
  // let the agent settle (registration, first status) before the idle sample
  await new Promise((r) => setTimeout(r, 3_000));
  rows.push(['idle, 0 pods', mib(rssKiB(stack.node.pid())), '-']);
  for (let i = 0; i < pods; i++) {
    const r = await api('POST', '/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `rss-${i}` },
      spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: stack.busyboxImage, command: ['sleep', '3600'] }] },
    });
    if (r.status !== 201) throw new Error(`create rss-${i}: ${r.status}`);
  }
  const deadline = Date.now() + 180_000;
  for (;;) {
    const list = (await api('GET', '/api/v1/namespaces/default/pods')).body as { items: Pod[] };
    if (list.items.filter((p) => p.status?.phase === 'Running').length === pods) break;
    if (Date.now() > deadline) throw new Error('pods not Running in 180 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  // a few resync passes with everything running, then sample
  await new Promise((r) => setTimeout(r, 5_000));
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssKiB(stack.node.pid()));
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const conmons = (await stack.node.hostState()).conmonPids;
  const conmonTotal = conmons.reduce((s, p) => s + rssKiB(p), 0);
  rows.push([`${pods} running runc pods (max of 5 samples)`, mib(Math.max(...samples)), `${mib(conmonTotal)} total over ${conmons.length} conmon`]);
} finally {
  await stack.close();
}

console.log('\n### hedge node (agent) resident memory\n');
console.log('| state | agent RSS MiB | conmon RSS MiB |');
console.log('| --- | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log('\nTarget (TARGETS.md): agent + hub ≤ 80 MB with 20 running pods (EdgeCore ~70 MB, k3s agent ~275 MB).');
