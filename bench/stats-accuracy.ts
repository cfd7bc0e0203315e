/**
 * Stats accuracy per runtime against ground truth: the workload of test/e2e/stats-accuracy.ts
 * (O_DIRECT writes, tmpfs memory, CPU burnt by its own clock, TCP served and received) on a
 * real `hedge server` + `hedge node`, every /stats/summary figure and matching cAdvisor series
 * beside what the workload did, with the error. gVisor's CPU is checked against the host's
 * per-task accounting of the pod's processes (its own clock counts wall time under ptrace); the
 * microVM's per container against its cgroup in the guest, per pod against the whole guest (guest
 * CPU-seconds: under TCG not what the host spent). Prints a markdown table; asserts nothing. Needs root.
 * Run: node --import tsx bench/stats-accuracy.ts [runtimes=runc,gvisor,microvm]
 */
import { loadavg } from 'node:os';
import { edgeNodeSkipReason, microvmSkipReason } from '../test/e2e/node-harness.ts';
import { CPU_S, formatAccuracyTable, IO_MIB, MEM_MIB, NET_MIB, measureAccuracy, startAccuracyStack, type AccuracyRow } from '../test/e2e/stats-accuracy.ts';

const runtimes = (process.argv[2] ?? (microvmSkipReason() ? 'runc,gvisor' : 'runc,gvisor,microvm')).split(',');
const why = edgeNodeSkipReason(['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/bin/busybox']) ?? (runtimes.includes('microvm') ? microvmSkipReason() : undefined);
if (why) {
  process.stderr.write(`stats-accuracy: cannot run here: ${why}\n`);
  process.exit(2);
}
const stack = await startAccuracyStack(`accb-${process.pid}`, runtimes);
const rows: AccuracyRow[] = [];
const load: string[] = [];
try {
  for (const rt of runtimes) {
    rows.push(...(await measureAccuracy(stack, rt, { podName: `accb-${rt}` })));
    load.push(`${rt}: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  }
} finally {
  await stack.close();
}
process.stdout.write(`stats accuracy: workload ${IO_MIB} MiB O_DIRECT write+read, ${MEM_MIB} MiB in tmpfs, ≥ ${CPU_S} CPU-s by the workload's own clock, ${NET_MIB} MiB served and received (load average after each runtime: ${load.join('; ')})\n\n`);
process.stdout.write(`${formatAccuracyTable(rows)}\n`);
