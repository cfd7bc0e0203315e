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
import { HttpKubeClient } from '../client/http-client.ts';
import { Resources } from '../client/resources.ts';
import { isHedgeError } from '../lib/errors.ts';
import { MemoryStore } from '../store/index.ts';
import type { RunningHub } from './hub.ts';
import { nodePod, startHubRig, until, type HubRig } from './testing/hub-rig.ts';
import type { TcpLink } from './testing/tcp-link.ts';

const NODE = 'edge-authz';

const secret = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, stringData: { v: name } } as KubeObject);
const podUsing = (name: string, secretName: string, nodeName = NODE): KubeObject => nodePod(nodeName, name, { volumes: [{ name: 's', secret: { secretName } }] });
const forbidden = (err: unknown): boolean => isHedgeError(err, 'Forbidden');

describe('edgehub with node credentials caches and serves only what the node authorizer allows', () => {
  let rig: HubRig;
  let link: TcpLink;
  let dir: string;
  let hub: RunningHub;
  const replicaStore = new MemoryStore();
  let local: HttpKubeClient;
  let admin: HttpKubeClient;
  const cached = async (name: string): Promise<boolean> => (await hub.replica.get(Resources.secrets, 'default', name)) !== undefined;
  const replicatedPods = async (): Promise<string[]> => (await hub.replica.list(Resources.pods)).map((p) => p.metadata.name ?? '');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgehub-authz-'));
    rig = await startHubRig({
      nodeName: NODE,
      dir,
      // the node's own credential (test authenticator: node-<name> is system:node:<name>)
      token: `node-${NODE}`,
      seed: async (a) => {
        await a.create(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'elsewhere' } });
        for (const s of ['mine', 'theirs', 'unused']) await a.create(Resources.secrets, secret(s));
        await a.create(Resources.pods, podUsing('uses-mine', 'mine'));
        await a.create(Resources.pods, podUsing('uses-theirs', 'theirs', 'elsewhere'));
      },
      hub: { store: replicaStore, healthIntervalMs: 100, healthTimeoutMs: 500 },
    });
    ({ link, hub, local, admin } = rig);
    await until('the node\'s pod replicated', async () => (await replicatedPods()).includes('uses-mine'));
  });

  after(async () => {
    await rig.close();
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
