/**
 * Stats accuracy per runtime against ground truth: the workload of test/e2e/stats-accuracy.ts
 * (O_DIRECT writes, tmpfs memory, CPU burnt by its own clock, HTTP served and TCP received) on a
 * real `hedge server` + `hedge node`, every /stats/summary figure and matching cAdvisor series
 * beside what the workload did, with the error. The microVM column is left out while the guest
 * reports whole-VM figures (see the e2e). Prints a markdown table; asserts nothing. Needs root.
 * Run: node --import tsx bench/stats-accuracy.ts [runtimes=runc,gvisor]
 */
import { startEdgeStack } from '../test/e2e/edge-stack.ts';
import { edgeNodeSkipReason } from '../test/e2e/node-harness.ts';
import { CPU_S, formatAccuracyTable, IO_MIB, MEM_MIB, NET_MIB, measureAccuracy, type AccuracyRow } from '../test/e2e/stats-accuracy.ts';

const runtimes = (process.argv[2] ?? 'runc,gvisor').split(',');
const why = edgeNodeSkipReason(['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/bin/busybox']);
if (why) {
  process.stderr.write(`stats-accuracy: cannot run here: ${why}\n`);
  process.exit(2);
}
const stack = await startEdgeStack({ nodes: [{ name: `accb-${process.pid}`, runtimes }] });
const rows: AccuracyRow[] = [];
try {
  for (const rt of runtimes) rows.push(...(await measureAccuracy(stack, rt, { podName: `accb-${rt}` })));
} finally {
  await stack.close();
}
process.stdout.write(`stats accuracy: workload ${IO_MIB} MiB O_DIRECT write+read, ${MEM_MIB} MiB in tmpfs, ${CPU_S} CPU-s by the workload's own clock, ${NET_MIB} MiB served and received\n\n`);
process.stdout.write(`${formatAccuracyTable(rows)}\n`);
