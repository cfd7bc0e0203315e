import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NetworkPlugin, NetworkResult, NetworkSandbox } from '../types.ts';
import { GuardedNetworkPlugin } from './guarded-network.ts';
import type { PodGuard } from './pod-guard.ts';

test('guarded network: a setUp that finds the attachment made and guarded alike runs no second guard transaction; one after a teardown does', async () => {
  const res: NetworkResult = { ips: [{ address: '10.1.0.2', family: 4, interface: 'eth0' }], hostInterface: 'veth1', interfaces: [] };
  const inner: NetworkPlugin = { name: 'fake', setUp: async () => res, tearDown: async () => undefined, status: async () => res };
  const log: string[] = [];
  const guard = { allow: async (p: { hostInterface: string }) => void log.push(`allow ${p.hostInterface}`), forget: async (i: string) => void log.push(`forget ${i}`) };
  const net = new GuardedNetworkPlugin(inner, guard as unknown as PodGuard);
  const sb: NetworkSandbox = { id: 's1', pod: { uid: 'u', namespace: 'default', name: 'p' }, netnsPath: '/run/x/s1', portMappings: [] };
  const sig = AbortSignal.timeout(5000);
  await net.setUp(sb, sig);
  await net.setUp(sb, sig);
  assert.deepEqual(log, ['allow veth1']);
  // other ports to guard (host ports) are another guard
  await net.setUp({ ...sb, portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] }, sig);
  assert.deepEqual(log, ['allow veth1', 'allow veth1']);
  await net.tearDown(sb, sig);
  await net.setUp(sb, sig);
  assert.deepEqual(log, ['allow veth1', 'allow veth1', 'forget veth1', 'allow veth1']);
});
