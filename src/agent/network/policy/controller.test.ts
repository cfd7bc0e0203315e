import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { FakeKubeClient } from '../../../client/fake-client.ts';
import { Resources } from '../../../client/resources.ts';
import type { KubeObject } from '../../../api/object.ts';
import { silentLogger } from '../../../lib/log.ts';
import { recordingNft, until } from '../testing/recording-nft.ts';
import { PolicyController, policyPod } from './controller.ts';

const pod = (name: string, node: string, ip: string, labels: Record<string, string>): KubeObject =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox', ports: [{ name: 'http', containerPort: 80 }] }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  }) as KubeObject;

test('policyPod: IPv4 addresses, named ports; host-network, finished and unaddressed pods are skipped', () => {
  const p = policyPod(pod('a', 'n', '10.244.0.5', { app: 'a' }) as Pod);
  assert.deepEqual(p, { namespace: 'shop', name: 'a', labels: { app: 'a' }, ips: ['10.244.0.5'], namedPorts: { http: [{ protocol: 'TCP', port: 80 }] } });
  assert.equal(policyPod({ ...(pod('b', 'n', '10.0.0.1', {}) as Pod), spec: { hostNetwork: true, containers: [] } }), undefined);
  assert.equal(policyPod({ ...(pod('c', 'n', '10.0.0.2', {}) as Pod), status: { phase: 'Succeeded', podIP: '10.0.0.2' } }), undefined);
  assert.equal(policyPod({ ...(pod('d', 'n', '10.0.0.3', {}) as Pod), status: { phase: 'Pending' } }), undefined);
});

test('policyPod: a dual-stack pod\'s IPv6 addresses (pod IPs and NAD interfaces) go to ips6; an IPv6-only pod is addressed', () => {
  const base = pod('a', 'n', '10.244.0.5', {}) as Pod;
  const dual: Pod = {
    ...base,
    metadata: { ...base.metadata, annotations: { 'k8s.v1.cni.cncf.io/network-status': JSON.stringify([{ name: 'lan', interface: 'net1', ips: ['192.0.2.7', '2001:db8::7'] }]) } },
    status: { phase: 'Running', podIP: '10.244.0.5', podIPs: [{ ip: '10.244.0.5' }, { ip: 'fd00:10:244::5' }] },
  };
  const p = policyPod(dual);
  assert.deepEqual([p?.ips, p?.ips6], [['10.244.0.5', '192.0.2.7'], ['fd00:10:244::5', '2001:db8::7']]);
  const only6 = policyPod({ ...base, status: { phase: 'Running', podIP: 'fd00:10:244::6', podIPs: [{ ip: 'fd00:10:244::6' }] } });
  assert.deepEqual([only6?.ips, only6?.ips6], [[], ['fd00:10:244::6']]);
});

test('sync loop: policies, pods and namespaces from the client, only local pods get chains, unchanged renders are not re-applied, a failed apply is retried, table removed on stop', async () => {
  const client = new FakeKubeClient();
  const nft = recordingNft();
  const scripts = nft.scripts;

  await client.create(Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { team: 'shop' } } });
  await client.create(Resources.pods, pod('server', 'edge-a', '10.244.0.10', { app: 'server' }));
  await client.create(Resources.pods, pod('client', 'edge-b', '10.244.1.20', { role: 'client' }));
  const ctl = new PolicyController({ client, nodeName: 'edge-a', logger: silentLogger(), table: 'hp-pol-test', nft, debounceMs: 20 });
  const ac = new AbortController();
  const running = ctl.run(ac.signal);
  try {
    await until('the first apply', () => scripts.length === 1);
    assert.match(scripts[0]!, /^table inet hp-pol-test\ndelete table inet hp-pol-test\ntable inet hp-pol-test \{/);
    assert.doesNotMatch(scripts[0]!, /jump/);

    await client.create(Resources.networkpolicies, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'allow-clients', namespace: 'shop' },
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'shop' } }, podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 'http' }] }] },
    });
    await until('the policy programmed', () => /jump ing-shop-server/.test(scripts.at(-1) ?? ''));
    const last = scripts.at(-1)!;
    // the server (this node's) gets a chain; the client (edge-b's) is only a peer
    assert.match(last, /ip daddr 10\.244\.0\.10 jump ing-shop-server/);
    assert.match(last, /ip saddr 10\.244\.1\.20 tcp dport 80 return/);
    assert.doesNotMatch(last, /ing-shop-client/);

    // a change that renders the same table is not applied again
    const applies = ctl.stats.applies;
    const syncs = ctl.stats.syncs;
    await client.update(Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { team: 'shop', extra: 'x' } } });
    await until('the re-render', () => ctl.stats.syncs > syncs);
    assert.equal(ctl.stats.applies, applies);

    // a failed apply is retried
    nft.failNext();
    await client.delete(Resources.networkpolicies, 'allow-clients', { namespace: 'shop' });
    await until('the retried apply', () => ctl.stats.failures === 1 && !/jump/.test(scripts.at(-1) ?? 'jump'));
  } finally {
    ac.abort();
    await running;
  }
  assert.equal(scripts.at(-1), 'table inet hp-pol-test\ndelete table inet hp-pol-test\n');
});
