import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeKubeClient } from '../../../client/fake-client.ts';
import { Resources } from '../../../client/resources.ts';
import type { KubeObject } from '../../../api/object.ts';
import { silentLogger } from '../../../lib/log.ts';
import { runChecked, runCommand } from '../../host/run-command.ts';
import { missingTools } from '../../runtime/oci/test-support.ts';
import { randomSubnet, randomSuffix } from '../test-helpers.ts';
import { ensureBridgeGateway, gatewayOf, startClusterDns } from './cluster-dns.ts';
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

const linkSkip = process.getuid?.() !== 0 ? 'needs root' : missingTools(['ip']).length ? 'needs ip' : undefined;

describe('ensureBridgeGateway', { skip: linkSkip }, () => {
  const mac = async (dev: string): Promise<string> => (JSON.parse((await runChecked('ip', ['-j', 'link', 'show', 'dev', dev])).stdout) as { address: string }[])[0]!.address;
  /** a veth whose host end (`name`, MAC `address`) is a port of `bridge` */
  const port = async (bridge: string, name: string, address: string): Promise<void> => {
    await runChecked('ip', ['link', 'add', name, 'address', address, 'type', 'veth', 'peer', 'name', `${name}p`]);
    await runChecked('ip', ['link', 'set', name, 'master', bridge, 'up']);
  };
  // lower than any address the kernel makes up for a new link (those are locally administered: 02 set)
  const low = (n: number): string => `00:00:00:${randomSuffix(2).replace(/(..)(..)/, '$1:$2')}:0${n}`;

  it("pins the bridge's MAC: pod ports coming and going leave the gateway's address alone", async () => {
    const run = randomSuffix();
    const bridge = `hbt${run}`;
    try {
      assert.equal(await ensureBridgeGateway(bridge, randomSubnet().subnet), (await runChecked('ip', ['-o', '-4', 'addr', 'show', 'dev', bridge])).stdout.match(/inet (\S+)\//)?.[1]);
      const pinned = await mac(bridge);
      await port(bridge, `hbt${run}a`, low(2));
      assert.equal(await mac(bridge), pinned, 'a port with a lower MAC joined');
      await port(bridge, `hbt${run}b`, low(1));
      await runChecked('ip', ['link', 'del', `hbt${run}a`]);
      assert.equal(await mac(bridge), pinned, 'ports joined and left');
    } finally {
      for (const l of [`hbt${run}a`, `hbt${run}b`, bridge]) await runCommand('ip', ['link', 'del', l]);
    }
  });

  it("adopts a bridge made without it (a node before this one) at the MAC its pods know, and keeps it", async () => {
    const run = randomSuffix();
    const bridge = `hbt${run}`;
    const { subnet } = randomSubnet();
    try {
      await runChecked('ip', ['link', 'add', bridge, 'type', 'bridge']);
      const first = low(3);
      await port(bridge, `hbt${run}a`, first);
      assert.equal(await mac(bridge), first, "an unpinned bridge takes its lowest port's MAC");
      await ensureBridgeGateway(bridge, subnet);
      assert.equal(await mac(bridge), first);
      await port(bridge, `hbt${run}b`, low(1));
      await runChecked('ip', ['link', 'del', `hbt${run}a`]);
      assert.equal(await mac(bridge), first, "the restarted node's ports came and went");
      // a second call (start-node makes the gateway for the CNI plugin and for DNS) changes nothing
      await ensureBridgeGateway(bridge, subnet);
      assert.equal(await mac(bridge), first);
    } finally {
      for (const l of [`hbt${run}a`, `hbt${run}b`, bridge]) await runCommand('ip', ['link', 'del', l]);
    }
  });
});
