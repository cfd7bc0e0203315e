import assert from 'node:assert/strict';
import { test } from 'node:test';
import { enforcesPodsAllocatable, nodeEvictionThresholds, nodeReserved, resolveNodeSettings } from './node-config.ts';

test('ingress listeners: 80/443 on all addresses by default, 0 turns one off, a bad value names its flag', async () => {
  const d = await resolveNodeSettings({ flags: { kubeconfig: '/k' } });
  assert.deepEqual([d.ingressHttpPort, d.ingressHttpsPort, d.ingressBindAddress], [80, 443, '0.0.0.0']);
  const off = await resolveNodeSettings({ flags: { kubeconfig: '/k', ingressHttpPort: '0', ingressHttpsPort: '18443', ingressBindAddress: '127.0.0.1' } });
  assert.deepEqual([off.ingressHttpPort, off.ingressHttpsPort, off.ingressBindAddress], [0, 18443, '127.0.0.1']);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', ingressHttpPort: '70000' } }), /--ingress-http-port.*must be a port number/);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', ingressHttpsPort: 'https' } }), /--ingress-https-port.*must be a port number/);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', ingressBindAddress: 'localhost' } }), /--ingress-bind-address.*must be an IP address/);
});

test('image GC keys: kubelet defaults, durations, file keys named in errors, low below high', async () => {
  const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const d = await resolveNodeSettings({ flags: { kubeconfig: '/k' } });
  assert.deepEqual([d.imageGCHighThresholdPercent, d.imageGCLowThresholdPercent, d.imageMinimumGCAge, d.imageMaximumGCAge], [85, 80, 120_000, 0]);
  const dir = await mkdtemp(join(tmpdir(), 'hedge-nodecfg-'));
  try {
    const file = join(dir, 'node.yaml');
    await writeFile(file, 'imageGCHighThresholdPercent: 90\nimageGCLowThresholdPercent: 70\nimageMinimumGCAge: 5m\nimageMaximumGCAge: 168h\n');
    const f = await resolveNodeSettings({ flags: { kubeconfig: '/k' }, configFile: file });
    assert.deepEqual([f.imageGCHighThresholdPercent, f.imageGCLowThresholdPercent, f.imageMinimumGCAge, f.imageMaximumGCAge], [90, 70, 300_000, 168 * 3_600_000]);
    await writeFile(file, 'imageGCHighThresholdPercent: 101\n');
    await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k' }, configFile: file }), /imageGCHighThresholdPercent.*between 0 and 100/);
    await writeFile(file, 'imageMinimumGCAge: soon\n');
    await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k' }, configFile: file }), /imageMinimumGCAge.*must be a duration/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await assert.rejects(
    resolveNodeSettings({ flags: { kubeconfig: '/k', imageGCLowThresholdPercent: '85' } }),
    /^.*imageGCLowThresholdPercent \(--image-gc-low-threshold\): 85 must be less than imageGCHighThresholdPercent \(--image-gc-high-threshold\) 85$/,
  );
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', imageMaximumGCAge: '1m' } }), /imageMaximumGCAge \(--image-maximum-gc-age\): .*must be greater than imageMinimumGCAge/);
});

test('static pods: --pod-manifest-path (config key staticPodPath) is off unless given, and must be absolute', async () => {
  const d = await resolveNodeSettings({ flags: { kubeconfig: '/k' } });
  assert.equal(d.staticPodPath, undefined);
  const on = await resolveNodeSettings({ flags: { kubeconfig: '/k', staticPodPath: '/etc/hedge/manifests' } });
  assert.equal(on.staticPodPath, '/etc/hedge/manifests');
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', staticPodPath: 'manifests' } }), /--pod-manifest-path.*must be an absolute path/);
});

test('eviction keys: flag syntax and YAML maps, upstream defaults, errors name the key and reason', async () => {
  const d = await resolveNodeSettings({ flags: { kubeconfig: '/k' } });
  assert.equal(d.evictionHard, undefined, 'unset: the kubelet defaults apply');
  assert.deepEqual([d.evictionMaxPodGracePeriod, d.evictionPressureTransitionPeriod], [0, 300]);
  const s = await resolveNodeSettings({
    flags: {
      kubeconfig: '/k',
      evictionHard: 'memory.available<200Mi,nodefs.available<12%',
      evictionSoft: 'memory.available<1Gi',
      evictionSoftGracePeriod: 'memory.available=1m30s',
      evictionMinimumReclaim: 'nodefs.available=1Gi',
      evictionMaxPodGracePeriod: '45',
      evictionPressureTransitionPeriod: '30s',
    },
  });
  assert.deepEqual(s.evictionHard, { 'memory.available': '200Mi', 'nodefs.available': '12%' });
  assert.deepEqual([s.evictionSoftGracePeriod, s.evictionMinimumReclaim, s.evictionMaxPodGracePeriod, s.evictionPressureTransitionPeriod], [{ 'memory.available': '1m30s' }, { 'nodefs.available': '1Gi' }, 45, 30]);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', evictionHard: 'memory.free<1Gi' } }), /--eviction-hard: .*unsupported eviction signal memory.free/);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', evictionHard: 'nodefs.available<150%' } }), /--eviction-hard: .*must be <= 100%/);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', evictionSoft: 'memory.available<1Gi' } }), /--eviction-soft-grace-period \(config key evictionSoftGracePeriod\): grace period must be specified for the soft eviction threshold memory.available/);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', evictionPressureTransitionPeriod: 'later' } }), /--eviction-pressure-transition-period: .*must be a duration/);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', evictionMaxPodGracePeriod: '-1' } }), /--eviction-max-pod-grace-period: .*whole number of seconds/);
  // enforceNodeAllocatable: the kubelet's list syntax; pods twins the hard memory threshold as allocatableMemory.available
  const e = await resolveNodeSettings({ flags: { kubeconfig: '/k', enforceNodeAllocatable: 'none' } });
  assert.deepEqual(e.enforceNodeAllocatable, ['none']);
  assert.equal(nodeEvictionThresholds(e).some((t) => t.signal === 'allocatableMemory.available'), false);
  assert.equal(nodeEvictionThresholds(d).some((t) => t.signal === 'allocatableMemory.available'), true, 'default: pods');
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', enforceNodeAllocatable: 'pods,none' } }), /--enforce-node-allocatable \(config key enforceNodeAllocatable\): may not contain additional enforcements when "none" is specified/);
});

test('--kube-reserved / --system-reserved: the kubelet\'s resource=quantity list (or a YAML map), added up for the agent; upstream\'s messages', async () => {
  const s = await resolveNodeSettings({ flags: { kubeconfig: '/k', kubeReserved: 'cpu=100m,memory=256Mi,pid=1000', systemReserved: 'cpu=0.4,memory=1Gi,ephemeral-storage=2Gi' } });
  assert.deepEqual(s.kubeReserved, { cpuMilli: 100, memoryBytes: 256 * 2 ** 20, ephemeralStorageBytes: 0, pids: 1000 });
  assert.deepEqual(nodeReserved(s), { cpuMilli: 500, memoryBytes: 1280 * 2 ** 20, ephemeralStorageBytes: 2 * 2 ** 30, pids: 1000 });
  assert.deepEqual(nodeReserved(await resolveNodeSettings({ flags: { kubeconfig: '/k' } })), { cpuMilli: 0, memoryBytes: 0, ephemeralStorageBytes: 0, pids: 0 });
  assert.equal(enforcesPodsAllocatable(s), true, 'default: pods');
  assert.equal(enforcesPodsAllocatable(await resolveNodeSettings({ flags: { kubeconfig: '/k', enforceNodeAllocatable: 'none' } })), false);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', kubeReserved: 'gpu=1' } }), /--kube-reserved: cannot reserve "gpu" resource/);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', systemReserved: 'memory=-1Gi' } }), /--system-reserved: resource quantity for "memory" cannot be negative: -1Gi/);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', systemReserved: 'memory=lots' } }), /--system-reserved: failed to parse quantity "lots" for "memory" resource/);
});

test('--cluster-dns: auto by default, off, or a comma-separated list of IPs as the kubelet takes (a dual-stack pair)', async () => {
  assert.equal((await resolveNodeSettings({ flags: { kubeconfig: '/k' } })).clusterDns, 'auto');
  assert.equal((await resolveNodeSettings({ flags: { kubeconfig: '/k', clusterDns: '10.244.0.1,fd00:10:244::1' } })).clusterDns, '10.244.0.1,fd00:10:244::1');
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', clusterDns: '10.244.0.1,dns.local' } }), /--cluster-dns.*comma-separated list of IP addresses/);
});

test('--cgroup-v2-experimental (config key cgroupV2Experimental), no longer needed, still accepted: off by default, on with the flag or the key, a bad key value named', async () => {
  const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  assert.equal((await resolveNodeSettings({ flags: { kubeconfig: '/k' } })).cgroupV2Experimental, false);
  assert.equal((await resolveNodeSettings({ flags: { kubeconfig: '/k', cgroupV2Experimental: true } })).cgroupV2Experimental, true);
  const dir = await mkdtemp(join(tmpdir(), 'hedge-nodecfg-'));
  try {
    const file = join(dir, 'node.yaml');
    await writeFile(file, 'cgroupV2Experimental: true\n');
    assert.equal((await resolveNodeSettings({ flags: { kubeconfig: '/k' }, configFile: file })).cgroupV2Experimental, true);
    await writeFile(file, 'cgroupV2Experimental: maybe\n');
    await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k' }, configFile: file }), /cgroupV2Experimental.*must be true or false/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--microvm-boot-timeout-seconds (config key microvmBootTimeoutSeconds): 60 by default, whole positive seconds, a bad value named', async () => {
  assert.equal((await resolveNodeSettings({ flags: { kubeconfig: '/k' } })).microvmBootTimeoutSeconds, 60);
  assert.equal((await resolveNodeSettings({ flags: { kubeconfig: '/k', microvmBootTimeoutSeconds: '600' } })).microvmBootTimeoutSeconds, 600);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', microvmBootTimeoutSeconds: '0' } }), /--microvm-boot-timeout-seconds.*must be > 0/);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', microvmBootTimeoutSeconds: '1.5' } }), /--microvm-boot-timeout-seconds.*whole number of seconds/);
});
