import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../api/object.ts';
import { Resources } from '../client/resources.ts';
import { isHedgeError } from '../lib/errors.ts';
import { startHubRig, until, type HubRig } from './testing/hub-rig.ts';

const NODE = 'edge-ing';

/** What the node's ingress controller (agent/network/ingress) reads through the hub keeps answering offline. */
describe('edgehub: Ingresses, IngressClasses and the TLS Secrets they name, offline', () => {
  let rig: HubRig;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgehub-ing-'));
    rig = await startHubRig({
      nodeName: NODE,
      dir,
      seed: async (a) => {
        await a.create(Resources.ingresses, {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name: 'web', namespace: 'default' },
          spec: { ingressClassName: 'hedge', tls: [{ hosts: ['web.example'], secretName: 'web-tls' }], rules: [{ host: 'web.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
        } as KubeObject);
        for (const name of ['web-tls', 'unnamed']) {
          await a.create(Resources.secrets, { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'Yw==', 'tls.key': 'aw==' } } as KubeObject);
        }
      },
      hub: { healthIntervalMs: 100, healthTimeoutMs: 500 },
    });
  });

  after(async () => {
    await rig?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('online: replicated, and Secrets got by name are kept', async () => {
    await until('ingresses replicated', async () => (await rig.local.list(Resources.ingresses)).items.length === 1);
    // the server's bootstrapped default class
    assert.deepEqual((await rig.local.list(Resources.ingressclasses)).items.map((c) => c.metadata.name), ['hedge']);
    assert.equal((await rig.local.get(Resources.secrets, 'web-tls', { namespace: 'default' })).metadata.name, 'web-tls');
    await rig.local.get(Resources.secrets, 'unnamed', { namespace: 'default' });
  });

  it('offline: the Ingress is listed, the Secret it names served; one no Ingress or pod names is not; a status write is a 503', async () => {
    rig.link.cut();
    await rig.hub.waitFor('offline');
    assert.equal((await rig.local.list(Resources.ingresses, { namespace: 'default' })).items[0]?.metadata.name, 'web');
    assert.equal((await rig.local.list(Resources.ingressclasses)).items.length, 1);
    assert.equal((await rig.local.get<KubeObject & { data?: Record<string, string> }>(Resources.secrets, 'web-tls', { namespace: 'default' })).data?.['tls.crt'], 'Yw==');
    await assert.rejects(rig.local.get(Resources.secrets, 'unnamed', { namespace: 'default' }), (err: unknown) => isHedgeError(err, 'Forbidden'));
    await assert.rejects(
      rig.local.patch(Resources.ingresses, 'web', 'merge', { status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } }, { namespace: 'default', subresource: 'status' }),
      (err: unknown) => isHedgeError(err, 'Unavailable'),
    );
    rig.link.restore();
    await rig.hub.waitFor('online');
    // online again the write goes to the cloud
    await rig.local.patch(Resources.ingresses, 'web', 'merge', { status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } }, { namespace: 'default', subresource: 'status' });
    const cloud = await rig.admin.get(Resources.ingresses, 'web', { namespace: 'default' });
    assert.deepEqual((cloud.status as { loadBalancer?: unknown }).loadBalancer, { ingress: [{ ip: '192.0.2.1' }] });
  });
});
