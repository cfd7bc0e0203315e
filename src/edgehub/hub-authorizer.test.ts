/**
 * The hub holds node credentials: it must never cache, nor serve to local clients, an object the
 * node could not read from the cloud itself. Online the cloud's node authorizer decides (and a
 * refusal drops any copy); offline the hub applies the same rule from its replica of the node's
 * pods. Against our apiserver with its node authorizer graph, the hub authenticated as the node.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../api/object.ts';
import { startTestServer, testToken, type TestServer } from '../apiserver/testing/test-server.ts';
import { HttpKubeClient } from '../client/http-client.ts';
import { loadKubeconfig } from '../client/kubeconfig.ts';
import { Resources } from '../client/resources.ts';
import { isHedgeError } from '../lib/errors.ts';
import { silentLogger } from '../lib/log.ts';
import { MemoryStore } from '../store/index.ts';
import { startHub, type RunningHub } from './hub.ts';
import { TcpLink } from './testing/tcp-link.ts';

const NODE = 'edge-authz';

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const secret = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, stringData: { v: name } } as KubeObject);
const podUsing = (name: string, secretName: string, nodeName = NODE): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }], volumes: [{ name: 's', secret: { secretName } }] },
});
const forbidden = (err: unknown): boolean => isHedgeError(err, 'Forbidden');

describe('edgehub with node credentials caches and serves only what the node authorizer allows', () => {
  let cloud: TestServer;
  let link: TcpLink;
  let dir: string;
  let hub: RunningHub;
  const replicaStore = new MemoryStore();
  let local: HttpKubeClient;
  let admin: HttpKubeClient;
  const cached = async (name: string): Promise<boolean> => (await hub.replica.get(Resources.secrets, 'default', name)) !== undefined;
  const replicatedPods = async (): Promise<string[]> => (await hub.replica.list(Resources.pods)).map((p) => p.metadata.name ?? '');

  before(async () => {
    cloud = await startTestServer();
    const u = new URL(cloud.url);
    link = await TcpLink.open({ host: u.hostname, port: Number(u.port) });
    admin = new HttpKubeClient({ server: cloud.url, token: testToken });
    await admin.create(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } });
    await admin.create(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'elsewhere' } });
    for (const s of ['mine', 'theirs', 'unused']) await admin.create(Resources.secrets, secret(s));
    await admin.create(Resources.pods, podUsing('uses-mine', 'mine'));
    await admin.create(Resources.pods, podUsing('uses-theirs', 'theirs', 'elsewhere'));
    dir = await mkdtemp(join(tmpdir(), 'edgehub-authz-'));
    hub = await startHub({
      nodeName: NODE,
      dir: join(dir, 'hub'),
      // the node's own credential (test authenticator: node-<name> is system:node:<name>)
      cloud: { server: `http://127.0.0.1:${link.port}`, token: `node-${NODE}` },
      port: 0,
      logger: silentLogger(),
      store: replicaStore,
      healthIntervalMs: 100,
      healthTimeoutMs: 500,
    });
    local = new HttpKubeClient(await loadKubeconfig(hub.kubeconfigPath));
    await hub.waitFor('online');
    await until('the node\'s pod replicated', async () => (await replicatedPods()).includes('uses-mine'));
  });

  after(async () => {
    await local.close();
    await admin.close();
    await hub.close();
    await link.close();
    await cloud.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('online: a Secret of its own pod is served and cached; one of another node\'s pod, or of none, is refused and never cached', async () => {
    assert.equal((await local.get(Resources.secrets, 'mine', { namespace: 'default' })).metadata.name, 'mine');
    assert.ok(await cached('mine'));
    for (const name of ['theirs', 'unused']) {
      await assert.rejects(local.get(Resources.secrets, name, { namespace: 'default' }), forbidden, name);
      assert.equal(await cached(name), false, `${name} is not in the replica`);
    }
    assert.deepEqual(await replicatedPods(), ['uses-mine'], 'only the node\'s pods are replicated');
  });

  it('offline: a cached Secret is served while a pod of the node references it (control), refused once none does', async () => {
    link.cut();
    await hub.waitFor('offline');
    assert.equal((await local.get(Resources.secrets, 'mine', { namespace: 'default' })).metadata.name, 'mine', 'control: served from the cache offline');
    await assert.rejects(local.get(Resources.secrets, 'unused', { namespace: 'default' }), (err: unknown) => isHedgeError(err, 'Unavailable'));
    link.restore();
    await hub.waitFor('online');
    // the pod goes; the hub learns it through its pod reflection, while its copy of the Secret stays
    await admin.delete(Resources.pods, 'uses-mine', { namespace: 'default', gracePeriodSeconds: 0 });
    await until('the pod gone from the replica', async () => !(await replicatedPods()).includes('uses-mine'));
    assert.ok(await cached('mine'), 'the copy is still there (not read since)');
    link.cut();
    await hub.waitFor('offline');
    await assert.rejects(local.get(Resources.secrets, 'mine', { namespace: 'default' }), (err: unknown) => forbidden(err) && /not referenced by any pod on node/.test((err as Error).message));
    link.restore();
    await hub.waitFor('online');
  });

  it('online: once the cloud refuses the node a Secret it used to read, the cached copy is dropped', async () => {
    assert.ok(await cached('mine'));
    await assert.rejects(local.get(Resources.secrets, 'mine', { namespace: 'default' }), forbidden);
    assert.equal(await cached('mine'), false);
  });
});
