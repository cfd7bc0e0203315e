/**
 * `hedge node` in the cgroup v2 test machine against a `hedge server` on this host (node-in-vm.ts).
 * By default the node refuses the unified hierarchy and says how to boot v1 (or try its v2
 * support), before it registers anything. With `--cgroup-v2-experimental` (HEDGE_HVM_NODE_ARGS
 * replaces those flags) it runs a pod there end to end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostVmUnavailable } from './host-vm.ts';
import { registeredNode, runBusyboxPod, startNodeInVm } from './node-in-vm.ts';

const skip = hostVmUnavailable();
/** another checkout (not under the host's /tmp, which the guest does not see) whose node runs in the guest, e.g. a branch with the node's v2 support */
const nodeRoot = process.env.HEDGE_HVM_NODE_ROOT || undefined;
/** the VM's life: boot ~5 s, the bundle's first start in the guest ~10 s, a v2 node and its pod much longer */
const TIMEOUT = 600_000;
/** another session may hold the bench lock for a benchmark's length: the tests' own limits allow for it */
const LOCK_WAIT = 15 * 60_000;
const TEST_TIMEOUT = TIMEOUT + LOCK_WAIT + 120_000;

test('hedge node in the v2-only VM refuses the unified hierarchy, names the kernel argument that boots v1, registers no Node', { skip, timeout: TEST_TIMEOUT }, async (t) => {
  const niv = await startNodeInVm({ timeoutMs: TIMEOUT, lockTimeoutMs: LOCK_WAIT, hedgeRoot: nodeRoot });
  try {
    const explain = async (): Promise<string> => `node output:\n${await niv.output()}\nconsole:\n${(await niv.vm.result.catch(() => undefined))?.console.slice(-3000) ?? ''}`;
    // the guest reached the server with the node's credentials: the missing Node is the refusal's doing
    const probe = await niv.serverProbe();
    if (probe === 'skipped') t.diagnostic('no kubectl here: the guest\'s view of the server is not checked');
    // (the message only when it failed: explain() waits for the VM's end)
    else if (probe !== 'ok') assert.fail(`the guest could not reach ${niv.guestServerUrl} with the node's kubeconfig (${probe})\n${await explain()}`);
    // a node that starts instead fails the test at its ready line, not at the VM's timeout
    const started = niv.waitForOutput(/hedge node \S+ ready/).then(
      async (line) => assert.fail(`hedge node started on the unified hierarchy: ${line}\n${await niv.output()}`),
      () => niv.nodeExit(),
    );
    const code = await Promise.race([niv.nodeExit(), started]);
    const result = await niv.vm.result;
    const out = `${result.stdout}${result.stderr}`;
    assert.notEqual(code, 0, `hedge node exited 0\n${out}`);
    assert.equal(result.code, code, 'the VM command ends with the node');
    assert.match(out, /\/sys\/fs\/cgroup is the cgroup v2 unified hierarchy alone/, out);
    assert.match(out, /systemd\.unified_cgroup_hierarchy=0/, out);
    assert.doesNotMatch(out, /hedge node \S+ ready/, out);
    assert.equal(await registeredNode(niv), undefined, 'no Node object registered');
    const { serverReadyMs, vmStartedMs, nodeStartMs, nodeExitMs } = niv.timings;
    t.diagnostic(`server ready ${serverReadyMs} ms, qemu running ${vmStartedMs} ms (lock wait ${Math.round(result.lockWaitMs)} ms), guest boot ${Math.round(result.bootMs)} ms, node start ${nodeStartMs} ms, node exit ${nodeExitMs} ms (node start → refusal ${nodeExitMs! - nodeStartMs!} ms), VM total ${Math.round(result.totalMs)} ms`);
  } finally {
    await niv.close();
  }
});

/** the `hedge node` flags that turn its cgroup v2 support on, space-separated */
const v2Args = (process.env.HEDGE_HVM_NODE_ARGS ?? '--cgroup-v2-experimental').split(/\s+/).filter(Boolean);

test('hedge node in the v2-only VM: Ready, a runc busybox pod from the host registry Running with its limits in its v2 cgroup', { skip, timeout: TEST_TIMEOUT }, async (t) => {
  const niv = await startNodeInVm({ timeoutMs: TIMEOUT, lockTimeoutMs: LOCK_WAIT, registry: true, extraNodeArgs: v2Args, hedgeRoot: nodeRoot, memMiB: 1536 });
  try {
    const pod = await runBusyboxPod(niv);
    assert.equal(pod.status?.phase, 'Running');
    // the container is in a cgroup namespace of its own and sees its cgroup, with the pod's limits
    // (32Mi, 500m), at /sys/fs/cgroup: what containerd and CRI-O give an unprivileged container on v2
    const ex = await niv.server.kubectl(['exec', 'hvm-busybox', '--', 'sh', '-c', 'cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max'], { timeoutMs: 120_000 });
    assert.equal(ex.code, 0, `kubectl exec: ${ex.stdout}${ex.stderr}\n${await niv.output()}`);
    assert.deepEqual(ex.stdout.trim().split('\n'), ['0::/', String(32 << 20), '50000 100000']);
    const { serverReadyMs, vmStartedMs, nodeStartMs, nodeReadyMs, podRunningMs } = niv.timings;
    t.diagnostic(`server ready ${serverReadyMs} ms, qemu running (bench lock taken) ${vmStartedMs} ms, node start ${nodeStartMs} ms, node Ready ${nodeReadyMs} ms, pod Running ${podRunningMs} ms`);
  } finally {
    await niv.close();
  }
});
