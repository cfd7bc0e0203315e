/** The EndpointSlice controller against the real apiserver, in process, as an API client over HTTP. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoints } from 'kubernetes-types/core/v1.js';
import { startTestServer, testToken } from '../../apiserver/testing/test-server.ts';
import { HttpKubeClient } from '../../client/http-client.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeObject } from '../../api/object.ts';
import { silentLogger } from '../../lib/log.ts';
import type { PodObject } from '../common/types.ts';
import { waitFor } from '../workloads/testing/api-harness.ts';
import { EndpointSliceController } from './controller.ts';
import type { EndpointSliceObject, ServiceObject } from './desired.ts';

const ns = 'default';

function pod(name: string, labels: Record<string, string>, node: string): PodObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox', ports: [{ name: 'http', containerPort: 8080 }] }] },
  } as PodObject;
}

test('slices follow pods: ready/serving/terminating, named ports, node and zone, 100-per-slice chunking, Endpoints, cleanup on Service delete', async () => {
  const srv = await startTestServer();
  const client = new HttpKubeClient({ server: srv.url, token: testToken });
  const ctl = new EndpointSliceController({ client, logger: silentLogger(), maxEndpointsPerSlice: 2 });
  const ac = new AbortController();
  const running = ctl.run(ac.signal);
  const slicesOf = async (svc: string): Promise<EndpointSliceObject[]> =>
    (await client.list<EndpointSliceObject>(Resources.endpointslices, { namespace: ns, labelSelector: `kubernetes.io/service-name=${svc}` })).items;
  const setStatus = async (name: string, ip: string, ready: boolean): Promise<void> => {
    const cur = await client.get<PodObject>(Resources.pods, name, { namespace: ns });
    const status = { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] };
    await client.updateStatus(Resources.pods, { ...cur, status });
  };
  try {
    await client.create(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-a', labels: { 'topology.kubernetes.io/zone': 'zone-a' } } });
    for (const [i, name] of ['web-0', 'web-1', 'web-2'].entries()) {
      await client.create(Resources.pods, pod(name, { app: 'web' }, 'edge-a'));
      await setStatus(name, `10.244.0.${10 + i}`, name !== 'web-1');
    }
    await client.create(Resources.pods, pod('other', { app: 'other' }, 'edge-a'));
    await setStatus('other', '10.244.0.99', true);
    const svc = (await client.create(Resources.services, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: ns },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    } as ServiceObject)) as ServiceObject;

    // three endpoints, at most two per slice
    const slices = await waitFor('two slices with three endpoints', async () => {
      const s = await slicesOf('web');
      return s.length === 2 && s.reduce((n, x) => n + (x.endpoints?.length ?? 0), 0) === 3 ? s : undefined;
    });
    const eps = slices.flatMap((s) => s.endpoints ?? []);
    const byIp = new Map(eps.map((e) => [e.addresses[0], e]));
    assert.deepEqual(byIp.get('10.244.0.10')?.conditions, { ready: true, serving: true, terminating: false });
    assert.deepEqual(byIp.get('10.244.0.11')?.conditions, { ready: false, serving: false, terminating: false });
    assert.equal(byIp.get('10.244.0.10')?.nodeName, 'edge-a');
    assert.equal(byIp.get('10.244.0.10')?.zone, 'zone-a');
    assert.equal(byIp.get('10.244.0.10')?.targetRef?.name, 'web-0');
    assert.ok(!byIp.has('10.244.0.99'));
    for (const s of slices) {
      assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
      assert.equal(s.addressType, 'IPv4');
      assert.equal(s.metadata.labels?.['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
      assert.equal(s.metadata.ownerReferences?.[0]?.uid, svc.metadata.uid);
      assert.equal(s.metadata.ownerReferences?.[0]?.kind, 'Service');
    }
    const ep = await waitFor('legacy Endpoints', async () => {
      const e = (await client.get(Resources.endpoints, 'web', { namespace: ns })) as KubeObject & Endpoints;
      return e.subsets?.[0]?.addresses?.length === 2 ? e : undefined;
    });
    assert.deepEqual(ep.subsets?.[0]?.notReadyAddresses?.map((a) => a.ip), ['10.244.0.11']);
    assert.deepEqual(ep.subsets?.[0]?.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);

    // readiness flips, and a pod being deleted turns terminating (ready false, serving as its readiness)
    await setStatus('web-1', '10.244.0.11', true);
    await client.delete(Resources.pods, 'web-2', { namespace: ns, gracePeriodSeconds: 30 });
    await waitFor('web-1 ready and web-2 terminating', async () => {
      const all = (await slicesOf('web')).flatMap((s) => s.endpoints ?? []);
      const e1 = all.find((e) => e.addresses[0] === '10.244.0.11');
      const e2 = all.find((e) => e.addresses[0] === '10.244.0.12');
      return e1?.conditions?.ready === true && e2?.conditions?.terminating === true && e2.conditions.ready === false && e2.conditions.serving === true;
    });
    // relabelled out of the selector: gone from the slices
    const w0 = await client.get<PodObject>(Resources.pods, 'web-0', { namespace: ns });
    w0.metadata.labels = { app: 'gone' };
    await client.update(Resources.pods, w0);
    await waitFor('web-0 dropped', async () => {
      const all = (await slicesOf('web')).flatMap((s) => s.endpoints ?? []);
      return all.length === 2 && !all.some((e) => e.addresses[0] === '10.244.0.10');
    });

    await client.delete(Resources.services, 'web', { namespace: ns });
    await waitFor('slices and Endpoints removed', async () => {
      if ((await slicesOf('web')).length > 0) return false;
      try {
        await client.get(Resources.endpoints, 'web', { namespace: ns });
        return false;
      } catch {
        return true;
      }
    });
  } finally {
    ac.abort();
    await running;
    await client.close();
    await srv.close();
  }
});

test('dual-stack Services get one slice per family from the pods podIPs (IPv4-only pods stay out of the IPv6 one); a downgrade removes the IPv6 slice', async () => {
  const srv = await startTestServer({ services: { clusterIpRange: '10.100.0.0/24,fd00:100::/120' } });
  const client = new HttpKubeClient({ server: srv.url, token: testToken });
  const ctl = new EndpointSliceController({ client, logger: silentLogger() });
  const ac = new AbortController();
  const running = ctl.run(ac.signal);
  const slicesOf = async (): Promise<EndpointSliceObject[]> =>
    (await client.list<EndpointSliceObject>(Resources.endpointslices, { namespace: ns, labelSelector: 'kubernetes.io/service-name=dual' })).items;
  try {
    for (const [name, ips] of [
      ['dual-0', ['10.244.0.20', 'fd00:10:244::20']],
      ['dual-1', ['10.244.0.21']],
    ] as const) {
      await client.create(Resources.pods, pod(name, { app: 'dual' }, 'edge-a'));
      const cur = await client.get<PodObject>(Resources.pods, name, { namespace: ns });
      await client.updateStatus(Resources.pods, { ...cur, status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })), conditions: [{ type: 'Ready', status: 'True' }] } });
    }
    const svc = (await client.create(Resources.services, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'dual', namespace: ns },
      spec: { selector: { app: 'dual' }, ipFamilyPolicy: 'PreferDualStack', ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    } as ServiceObject)) as ServiceObject;
    assert.deepEqual(svc.spec?.ipFamilies, ['IPv4', 'IPv6']);
    const byType = (s: EndpointSliceObject[]): Record<string, string[]> => Object.fromEntries(s.map((x) => [x.addressType, (x.endpoints ?? []).flatMap((e) => e.addresses).sort()]));
    await waitFor('an IPv4 and an IPv6 slice', async () => {
      const s = byType(await slicesOf());
      return s.IPv4?.length === 2 && s.IPv6?.length === 1 ? s : undefined;
    });
    assert.deepEqual(byType(await slicesOf()), { IPv4: ['10.244.0.20', '10.244.0.21'], IPv6: ['fd00:10:244::20'] });
    // the legacy Endpoints hold the primary family only
    const ep = await waitFor('legacy Endpoints', async () => {
      const e = (await client.get(Resources.endpoints, 'dual', { namespace: ns })) as KubeObject & Endpoints;
      return e.subsets?.[0]?.addresses?.length === 2 ? e : undefined;
    });
    assert.deepEqual(ep.subsets?.[0]?.addresses?.map((a) => a.ip).sort(), ['10.244.0.20', '10.244.0.21']);
    // SingleStack again: the IPv6 slice goes
    const cur = await client.get<ServiceObject>(Resources.services, 'dual', { namespace: ns });
    await client.update(Resources.services, { ...cur, spec: { ...cur.spec, ipFamilyPolicy: 'SingleStack' } });
    await waitFor('the IPv6 slice removed', async () => {
      const s = await slicesOf();
      return s.length === 1 && s[0]?.addressType === 'IPv4' ? s : undefined;
    });
  } finally {
    ac.abort();
    await running;
    await srv.close();
  }
});
