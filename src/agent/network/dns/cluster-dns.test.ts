import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import { FakeKubeClient } from '../../../client/fake-client.ts';
import { Resources } from '../../../client/resources.ts';
import type { KubeObject } from '../../../api/object.ts';
import { silentLogger } from '../../../lib/log.ts';
import { runChecked, runCommand } from '../../host/run-command.ts';
import { missingTools } from '../../runtime/oci/test-support.ts';
import { randomSubnet, randomSuffix } from '../test-helpers.ts';
import { ensureBridgeGateway, gatewayOf, startClusterDns } from './cluster-dns.ts';
import { encodeQuery, parseMessage, RCode, RRType } from './wire.ts';

/** one UDP question, its answer */
const udpQuery = async (host: string, port: number, msg: Buffer): Promise<Buffer> => {
  const sock = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  try {
    const reply = once(sock, 'message') as Promise<[Buffer]>;
    sock.send(msg, port, host);
    return (await reply)[0];
  } finally {
    sock.close();
  }
};

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
    assert.deepEqual(gatewayOf('fd00:10:244:3::/64'), { address: 'fd00:10:244:3::1', prefix: 64 });
    assert.throws(() => gatewayOf('10.244.3.0'), /not a CIDR/);
  });

  it('serves the same zone on every address it is given (a dual-stack node: both bridge gateways)', async () => {
    const client = new FakeKubeClient();
    await client.create(Resources.services, { metadata: { namespace: 'default', name: 'api' }, spec: { clusterIP: '10.96.0.5', clusterIPs: ['10.96.0.5', 'fd00:96::5'], ipFamilies: ['IPv4', 'IPv6'], ports: [{ port: 443 }] } } as KubeObject);
    const dns = await startClusterDns({ client, logger: silentLogger(), domain: 'cluster.local', listen: [{ host: '127.0.0.1', port: 0 }, { host: '::1', port: 0 }], upstreams: [] });
    try {
      await dns.synced;
      assert.deepEqual(dns.addresses.map((a) => a.host), ['127.0.0.1', '::1']);
      assert.deepEqual(dns.address, dns.addresses[0]);
      for (const { host, port } of dns.addresses) {
        for (const [type, want] of [[RRType.A, '10.96.0.5'], [RRType.AAAA, 'fd00:96:0:0:0:0:0:5']] as const) {
          const answer = await udpQuery(host, port, encodeQuery(7, 'api.default.svc.cluster.local', type));
          assert.deepEqual(parseMessage(answer).answers.map((r) => ('address' in r.data ? r.data.address : r.data.type)), [want], `${host} type ${type}`);
        }
      }
    } finally {
      await dns.close();
    }
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
      assert.deepEqual(await ensureBridgeGateway(bridge, randomSubnet().subnet), [(await runChecked('ip', ['-o', '-4', 'addr', 'show', 'dev', bridge])).stdout.match(/inet (\S+)\//)?.[1]]);
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

  it('a dual-stack node: the IPv6 gateway too, usable at once (no DAD), once', async () => {
    const run = randomSuffix();
    const bridge = `hbt${run}`;
    const v6 = `fd00:77:${run.slice(0, 4)}::/64`;
    try {
      const { subnet } = randomSubnet();
      const gws = await ensureBridgeGateway(bridge, subnet, undefined, v6);
      assert.equal(gws.length, 2);
      assert.equal(gws[1], gatewayOf(v6).address);
      const show = async (): Promise<string> => (await runChecked('ip', ['-o', '-6', 'addr', 'show', 'dev', bridge, 'scope', 'global'])).stdout;
      assert.match(await show(), new RegExp(`inet6 ${gws[1]}/64 `));
      assert.doesNotMatch(await show(), /tentative/);
      // bindable now, on a bridge with no ports (DAD would leave it tentative: EADDRNOTAVAIL)
      const sock = createSocket('udp6');
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(0, gws[1], () => resolve());
      });
      sock.close();
      assert.deepEqual(await ensureBridgeGateway(bridge, subnet, undefined, v6), gws);
      assert.equal((await show()).trim().split('\n').length, 1, 'a second call adds nothing');
    } finally {
      await runCommand('ip', ['link', 'del', bridge]);
    }
  });
});
