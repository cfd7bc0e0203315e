/**
 * Stats accuracy against ground truth for each runtime (the workload and the comparison are in
 * stats-accuracy.ts): N bytes written with O_DIRECT, N MiB held, N CPU-seconds burnt, N bytes
 * served and received; every figure of /stats/summary and the matching cAdvisor series within 5 %.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EdgeStack } from './edge-stack.ts';
import { findKubectl } from './harness.ts';
import { edgeNodeSkipReason, microvmSkipReason } from './node-harness.ts';
import { formatAccuracyTable, measureAccuracy, startAccuracyStack } from './stats-accuracy.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

const mvmSkip = microvmSkipReason();
const runtimes = mvmSkip ? ['runc', 'gvisor'] : ['runc', 'gvisor', 'microvm'];

describe('stats accuracy against ground truth, per runtime', { skip, timeout: 1_500_000 }, () => {
  let stack: EdgeStack | undefined;
  before(async () => {
    stack = await startAccuracyStack(`acc-${process.pid}`, runtimes);
  });
  after(() => stack?.close());

  for (const runtime of ['runc', 'gvisor', 'microvm']) {
    // microVM: per container from the container's cgroup in the guest, per pod the whole guest
    it(`${runtime}: block IO, memory, CPU and network within 5 % of what the workload did`, { skip: runtime === 'microvm' ? mvmSkip : undefined }, async (t) => {
      const rows = await measureAccuracy(stack!, runtime);
      const table = formatAccuracyTable(rows);
      t.diagnostic(table);
      for (const r of rows.filter((x) => x.asserted)) assert.ok(r.errorPct <= 5, `${r.figure}: expected ${r.expected}, reported ${r.reported} ${r.note ?? ''}\n${table}`);
      assert.ok(rows.filter((x) => x.asserted).length >= 10, table);
    });
  }
});
