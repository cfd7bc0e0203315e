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

test('static pods: --pod-manifest-path (config key staticPodPath) is off unless given, and must be absolute', async () => {
  const d = await resolveNodeSettings({ flags: { kubeconfig: '/k' } });
  assert.equal(d.staticPodPath, undefined);
  const on = await resolveNodeSettings({ flags: { kubeconfig: '/k', staticPodPath: '/etc/hedge/manifests' } });
  assert.equal(on.staticPodPath, '/etc/hedge/manifests');
  await assert.rejects(resolveNodeSettings({ flags: { kubeconfig: '/k', staticPodPath: 'manifests' } }), /--pod-manifest-path.*must be an absolute path/);
});
