/**
 * `hedge node` in the cgroup v2 test machine against a `hedge server` on this host (node-in-vm.ts):
 * on the unified hierarchy alone, as stock Debian 12 and 13 boot, with no flag, it runs a runc pod
 * (limits in its v2 cgroup, seen through a cgroup namespace of its own) and a gVisor pod end to end,
 * and reports their stats. HEDGE_HVM_NODE_ARGS adds node flags.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostVmUnavailable } from './host-vm.ts';
import { runBusyboxPod, startNodeInVm } from './node-in-vm.ts';

const skip = hostVmUnavailable();
/** another checkout (not under the host's /tmp, which the guest does not see) whose node runs in the guest */
const nodeRoot = process.env.HEDGE_HVM_NODE_ROOT || undefined;
/** the VM's life: boot ~5 s, node Ready ~35–50 s, a runc pod ~20 s and a gVisor pod ~20 s more under TCG (~2 min in all) */
const TIMEOUT = 900_000;
/** another session may hold the bench lock for a benchmark's length: the tests' own limits allow for it */
const LOCK_WAIT = 15 * 60_000;
const TEST_TIMEOUT = TIMEOUT + LOCK_WAIT + 120_000;

const nodeArgs = (process.env.HEDGE_HVM_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

interface SummaryPod {
  podRef: { name: string };
  cpu?: { usageCoreNanoSeconds?: number };
  memory?: { workingSetBytes?: number };
}

test('hedge node in the v2-only VM, no flag: Ready; a runc pod with its limits in its v2 cgroup and a gVisor pod Running, both in the stats summary', { skip, timeout: TEST_TIMEOUT }, async (t) => {
  const niv = await startNodeInVm({ timeoutMs: TIMEOUT, lockTimeoutMs: LOCK_WAIT, registry: true, runtimes: ['runc', 'gvisor'], extraNodeArgs: nodeArgs, hedgeRoot: nodeRoot, memMiB: 2048 });
  try {
    const pod = await runBusyboxPod(niv);
    assert.equal(pod.status?.phase, 'Running');
    // the container is in a cgroup namespace of its own and sees its cgroup, with the pod's limits
    // (32Mi, 500m), at /sys/fs/cgroup: what containerd and CRI-O give an unprivileged container on v2
    const ex = await niv.server.kubectl(['exec', 'hvm-busybox', '--', 'sh', '-c', 'cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max'], { timeoutMs: 120_000 });
    assert.equal(ex.code, 0, `kubectl exec: ${ex.stdout}${ex.stderr}\n${await niv.output()}`);
    assert.deepEqual(ex.stdout.trim().split('\n'), ['0::/', String(32 << 20), '50000 100000']);
    const { serverReadyMs, vmStartedMs, nodeStartMs, nodeReadyMs, podRunningMs } = niv.timings;

    // gVisor: runsc makes the sandbox's cgroups on the unified hierarchy itself, under the pod's
    const gv = await runBusyboxPod(niv, { name: 'hvm-gvisor', runtimeClassName: 'gvisor', runningTimeoutMs: 600_000 });
    assert.equal(gv.status?.phase, 'Running');
    const gvEx = await niv.server.kubectl(['exec', 'hvm-gvisor', '--', 'uname', '-r'], { timeoutMs: 120_000 });
    assert.equal(gvEx.code, 0, `kubectl exec (gVisor): ${gvEx.stdout}${gvEx.stderr}`);
    assert.equal(gvEx.stdout.trim(), '4.4.0', 'gVisor\'s own kernel answers');
    t.diagnostic(`server ready ${serverReadyMs} ms, qemu running (bench lock taken) ${vmStartedMs} ms, node start ${nodeStartMs} ms, node Ready ${nodeReadyMs} ms, runc pod Running ${podRunningMs} ms, gVisor pod Running ${niv.timings.podRunningMs} ms`);

    // both pods' CPU and memory from their v2 cgroups, through the node's stats summary
    const stats = await niv.server.api('GET', `/api/v1/nodes/${niv.nodeName}/proxy/stats/summary`);
    assert.equal(stats.status, 200, JSON.stringify(stats.body));
    const pods = (stats.body as { pods?: SummaryPod[] }).pods ?? [];
    for (const name of ['hvm-busybox', 'hvm-gvisor']) {
      const p = pods.find((x) => x.podRef.name === name);
      assert.ok(p, `${name} in the summary: ${JSON.stringify(pods.map((x) => x.podRef.name))}`);
      assert.ok((p.cpu?.usageCoreNanoSeconds ?? 0) > 0, `${name} CPU ${JSON.stringify(p.cpu)}`);
      assert.ok((p.memory?.workingSetBytes ?? 0) > 0, `${name} memory ${JSON.stringify(p.memory)}`);
    }
  } finally {
    await niv.close();
  }
});
