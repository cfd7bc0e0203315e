import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveNodeSettings } from './node-config.ts';

test('ingress listeners: 80/443 on all addresses by default, 0 turns one off, a bad value names its flag', async () => {
  const d = await resolveNodeSettings({ flags: { kubeconfig: '/k' } });
  assert.deepEqual([d.ingressHttpPort, d.ingressHttpsPort, d.ingressBindAddress], [80, 443, '0.0.0.0']);
  const off = await resolveNodeSettings({ flags: { kubeconfig: '/k', ingressHttpPort: '0', ingressHttpsPort: '18443', ingressBindAddress: '127.0.0.1' } });
  assert.deepEqual([off.ingressHttpPort, off.ingressHttpsPort, off.ingressBindAddress], [0, 18443, '127.0.0.1']);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', ingressHttpPort: '70000' } }), /--ingress-http-port.*must be a port number/);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', ingressHttpsPort: 'https' } }), /--ingress-https-port.*must be a port number/);
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', ingressBindAddress: 'localhost' } }), /--ingress-bind-address.*must be an IP address/);
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
});
