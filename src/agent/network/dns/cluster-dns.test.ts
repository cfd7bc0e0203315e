import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeKubeClient } from '../../../client/fake-client.ts';
import { Resources } from '../../../client/resources.ts';
import type { KubeObject } from '../../../api/object.ts';
import { silentLogger } from '../../../lib/log.ts';
import { gatewayOf, startClusterDns } from './cluster-dns.ts';
import { RCode, RRType } from './wire.ts';

const waitFor = async (what: string, cond: () => boolean): Promise<void> => {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('startClusterDns', () => {
  it('follows Services and EndpointSlices through the client into the zone', async () => {
    const client = new FakeKubeClient();
    await client.create(Resources.services, { metadata: { namespace: 'default', name: 'api' }, spec: { clusterIP: '10.96.0.5', ports: [{ port: 443 }] } } as KubeObject);
    const dns = await startClusterDns({ client, logger: silentLogger(), domain: 'Cluster.Local.', listen: { host: '127.0.0.1', port: 0 }, upstreams: [] });
    try {
      await dns.synced;
      assert.equal(dns.zone.domain, 'cluster.local');
      const q = (name: string): ReturnType<typeof dns.zone.lookup> => dns.zone.lookup({ name, type: RRType.A, class: 1 });
      assert.deepEqual(q('api.default.svc.cluster.local'), { kind: 'records', rcode: RCode.NoError, answers: [{ name: 'api.default.svc.cluster.local', ttl: 5, type: 'A', address: '10.96.0.5' }], authority: [], additional: [] });
      await client.create(Resources.services, { metadata: { namespace: 'default', name: 'hl' }, spec: { clusterIP: 'None' } } as KubeObject);
      await client.create(Resources.endpointslices, {
        metadata: { namespace: 'default', name: 'hl-1', labels: { 'kubernetes.io/service-name': 'hl' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['10.244.0.9'] }],
      } as KubeObject);
      await waitFor('the headless endpoint', () => {
        const a = q('hl.default.svc.cluster.local');
        return a.kind === 'records' && a.answers.length === 1;
      });
      await client.delete(Resources.services, 'api', { namespace: 'default' });
      await waitFor('the deleted Service to go', () => {
        const a = q('api.default.svc.cluster.local');
        return a.kind === 'records' && a.rcode === RCode.NXDomain;
      });
    } finally {
      await dns.close();
    }
  });

  it('the gateway is the first address of the pod subnet', () => {
    assert.deepEqual(gatewayOf('10.244.3.0/24'), { address: '10.244.3.1', prefix: 24 });
    assert.deepEqual(gatewayOf('10.88.0.0/16'), { address: '10.88.0.1', prefix: 16 });
  });
});
