/**
 * Stats accuracy against ground truth for each runtime (the workload and the comparison are in
 * stats-accuracy.ts): N bytes written with O_DIRECT, N MiB held, N CPU-seconds burnt, N bytes
 * served and received; every figure of /stats/summary and the matching cAdvisor series within 5 %.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl } from './harness.ts';
import { edgeNodeSkipReason, microvmSkipReason } from './node-harness.ts';
import { formatAccuracyTable, measureAccuracy } from './stats-accuracy.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

describe('stats accuracy against ground truth, per runtime', { skip, timeout: 900_000 }, () => {
  let stack: EdgeStack | undefined;
  before(async () => {
    stack = await startEdgeStack({ nodes: [{ name: `acc-${process.pid}`, runtimes: ['runc', 'gvisor'] }] });
  });
  after(() => stack?.close());

  for (const runtime of ['runc', 'gvisor']) {
    it(`${runtime}: block IO, memory, CPU and network within 5 % of what the workload did`, async () => {
      const rows = await measureAccuracy(stack!, runtime);
      const table = formatAccuracyTable(rows);
      for (const r of rows.filter((x) => x.asserted)) assert.ok(r.errorPct <= 5, `${r.figure}: expected ${r.expected}, reported ${r.reported} ${r.note ?? ''}\n${table}`);
      assert.ok(rows.filter((x) => x.asserted).length >= 10, table);
    });
  }

  it('microVM', {
    // the guest reports one /proc/stat, meminfo and diskstats for the whole VM: until the guest
    // agent accounts per container (cgroups in the guest), a container's figures are its VM's
    skip: microvmSkipReason() ?? 'microVM figures are the whole guest, not per container (the guest agent has no per-container accounting yet): not comparable to one container\'s ground truth',
  }, () => {});
});
