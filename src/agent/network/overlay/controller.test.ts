import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node } from 'kubernetes-types/core/v1.js';
import { formatOverlayAnnotations, OVERLAY_BACKEND_DATA_ANNOTATION, OVERLAY_PUBLIC_IPV6_ANNOTATION } from '../../../api/annotations/overlay.ts';
import type { KubeObject } from '../../../api/object.ts';
import { FakeKubeClient } from '../../../client/fake-client.ts';
import { Resources } from '../../../client/resources.ts';
import { silentLogger } from '../../../lib/log.ts';
import { peerFromNode, startOverlayController } from './controller.ts';
import { Overlay, vtepMac } from './overlay.ts';
import { FakeNetlink } from './testing/fake-netlink.ts';

type NodeObject = Node & KubeObject;

const node = (name: string, podCIDR: string | undefined, ip: string, annotate = true): NodeObject => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, annotations: annotate ? formatOverlayAnnotations({ type: 'vxlan', publicIP: ip, vtepMAC: vtepMac(name), vni: 1 }) : {} },
  spec: podCIDR ? { podCIDR } : {},
});

async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('overlay controller', () => {
  it('a dual-stack Node\'s peer carries its IPv6 podCIDR (spec.podCIDRs\' IPv6 entry)', () => {
    const n = node('b', '10.244.1.0/24', '192.168.1.3');
    assert.deepEqual(peerFromNode({ ...n, spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] } }, 'vxlan'), {
      name: 'b',
      podCIDR: '10.244.1.0/24',
      podCIDRv6: 'fd00:10:244:1::/64',
      publicIP: '192.168.1.3',
      vtepMAC: vtepMac('b'),
    });
    assert.equal(peerFromNode(n, 'vxlan')?.podCIDRv6, undefined);
  });

  it('publishes its backend, follows Nodes coming, changing and going, and tears nothing down when stopped', async () => {
    const client = new FakeKubeClient();
    await client.create(Resources.nodes, node('a', '10.244.0.0/24', '192.168.1.2', false));
    await client.create(Resources.nodes, node('b', '10.244.1.0/24', '192.168.1.3'));
    // no podCIDR yet: not a peer until it has one
    await client.create(Resources.nodes, node('c', undefined, '192.168.1.4'));
    const nl = new FakeNetlink();
    nl.addUnderlay('eth0', '192.168.1.2/24');
    const overlay = new Overlay({ mode: 'vxlan', nodeName: 'a', podCIDR: '10.244.0.0/24', publicIP: '192.168.1.2' }, nl, silentLogger());
    const stop = new AbortController();
    const ctl = startOverlayController({ client, overlay, logger: silentLogger() }, stop.signal);
    await ctl.ready;
    assert.deepEqual(nl.routeTable.map((r) => r.dst), ['10.244.1.0/24']);
    await until('own annotations', async () => (await client.get<NodeObject>(Resources.nodes, 'a')).metadata.annotations?.[OVERLAY_BACKEND_DATA_ANNOTATION] === `{"vni":1,"vtepMAC":"${vtepMac('a')}"}`);

    await client.patch(Resources.nodes, 'c', 'merge', { spec: { podCIDR: '10.244.2.0/24' } });
    await until('c routed', () => nl.routeTable.some((r) => r.dst === '10.244.2.0/24'));

    await client.delete(Resources.nodes, 'b');
    await until('b gone', () => !nl.routeTable.some((r) => r.dst === '10.244.1.0/24') && !nl.fdbTable.some((f) => f.dst === '192.168.1.3') && !nl.neighTable.some((n) => n.ip === '10.244.1.0'));

    stop.abort();
    await ctl.done;
    assert.equal(nl.links.has('hedge.1'), true, 'stopping the node keeps the overlay (its pods keep running)');
    assert.deepEqual(nl.routeTable.map((r) => r.dst), ['10.244.2.0/24']);
  });

  it('host-gw, dual-stack: publishes its IPv6 next hop, routes a peer\'s IPv6 range via the one it publishes, withdraws a stale one of its own', async () => {
    const client = new FakeKubeClient();
    const hostGw = (name: string, v4: string, v6: string, podCIDRs: string[]): NodeObject => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, annotations: formatOverlayAnnotations({ type: 'host-gw', publicIP: v4, publicIPv6: v6 }) },
      spec: { podCIDR: podCIDRs[0], podCIDRs },
    });
    await client.create(Resources.nodes, hostGw('a', '192.168.1.2', '2001:db8:1::99', ['10.244.0.0/24', 'fd00:10:244::/64']));
    await client.create(Resources.nodes, hostGw('b', '192.168.1.3', '2001:db8:1::3', ['10.244.1.0/24', 'fd00:10:244:1::/64']));
    const run = async (underlay6: string | undefined): Promise<{ routes: string[]; published: string | undefined }> => {
      const nl = new FakeNetlink();
      nl.addUnderlay('eth0', '192.168.1.2/24');
      if (underlay6) await nl.addAddress('eth0', underlay6);
      const overlay = new Overlay({ mode: 'host-gw', nodeName: 'a', podCIDR: '10.244.0.0/24', podCIDRv6: 'fd00:10:244::/64', publicIP: '192.168.1.2' }, nl, silentLogger());
      const stop = new AbortController();
      const ctl = startOverlayController({ client, overlay, logger: silentLogger() }, stop.signal);
      await ctl.ready;
      const want = underlay6?.split('/')[0];
      await until('own IPv6 next hop published', async () => (await client.get<NodeObject>(Resources.nodes, 'a')).metadata.annotations?.[OVERLAY_PUBLIC_IPV6_ANNOTATION] === want);
      stop.abort();
      await ctl.done;
      return { routes: nl.routeTable.map((r) => `${r.dst} via ${r.via}`), published: (await client.get<NodeObject>(Resources.nodes, 'a')).metadata.annotations?.[OVERLAY_PUBLIC_IPV6_ANNOTATION] };
    };
    assert.deepEqual(await run('2001:db8:1::2/64'), { routes: ['10.244.1.0/24 via 192.168.1.3', 'fd00:10:244:1::/64 via 2001:db8:1::3'], published: '2001:db8:1::2' });
    // restarted without an IPv6 underlay address: its stale next hop is withdrawn, IPv4 routes only
    assert.deepEqual(await run(undefined), { routes: ['10.244.1.0/24 via 192.168.1.3'], published: undefined });
  });

  it('a failing kernel write is retried', async () => {
    const client = new FakeKubeClient();
    await client.create(Resources.nodes, node('b', '10.244.1.0/24', '192.168.1.3'));
    const nl = new FakeNetlink();
    nl.addUnderlay('eth0', '192.168.1.2/24');
    let failures = 1;
    const real = nl.replaceRoute.bind(nl);
    nl.replaceRoute = async (r) => {
      if (failures-- > 0) throw new Error('RTNETLINK answers: Network is unreachable');
      return real(r);
    };
    const overlay = new Overlay({ mode: 'vxlan', nodeName: 'a', podCIDR: '10.244.0.0/24', publicIP: '192.168.1.2' }, nl, silentLogger());
    const stop = new AbortController();
    const ctl = startOverlayController({ client, overlay, logger: silentLogger() }, stop.signal);
    await ctl.ready;
    assert.deepEqual(nl.routeTable.map((r) => r.dst), ['10.244.1.0/24']);
    stop.abort();
    await ctl.done;
  });
});
