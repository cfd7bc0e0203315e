import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../api/object.ts';
import { HttpKubeClient } from '../client/http-client.ts';
import { loadKubeconfig } from '../client/kubeconfig.ts';
import { Resources } from '../client/resources.ts';
import type { KubeClient, WatchEvent } from '../client/types.ts';
import { isHedgeError } from '../lib/errors.ts';
import { MemoryStore } from '../store/index.ts';
import type { RunningHub } from './hub.ts';
import { nodePod, startHubRig, until, type HubRig } from './testing/hub-rig.ts';
import type { TcpLink } from './testing/tcp-link.ts';

const NODE = 'edge-1';

// p1 uses ConfigMap cfg: offline the hub serves a cached object only while a pod of the node references it
// and p1 attaches to NetworkAttachmentDefinition infra/lan (another namespace) as an extra interface
const pod = (name: string): KubeObject => {
  const p = nodePod(NODE, name, name === 'p1' ? { volumes: [{ name: 'cfg', configMap: { name: 'cfg' } }] } : {});
  if (name === 'p1') p.metadata.annotations = { 'k8s.v1.cni.cncf.io/networks': 'infra/lan' };
  return p;
};

/** collects a watch's events until aborted */
function collect(client: KubeClient, rv: string, signal: AbortSignal): { events: WatchEvent[]; error?: unknown } {
  const out: { events: WatchEvent[]; error?: unknown } = { events: [] };
  void (async () => {
    try {
      for await (const ev of client.watch(Resources.pods, { namespace: 'default', fieldSelector: `spec.nodeName=${NODE}`, resourceVersion: rv, signal })) out.events.push(ev);
    } catch (err) {
      out.error = err;
    }
  })();
  return out;
}

describe('edgehub', () => {
  let cloudStore: MemoryStore;
  let rig: HubRig;
  let link: TcpLink;
  let dir: string;
  let hub: RunningHub;
  const replicaStore = new MemoryStore();
  let local: HttpKubeClient;
  let admin: HttpKubeClient;
  const watches = new AbortController();

  before(async () => {
    cloudStore = new MemoryStore();
    dir = await mkdtemp(join(tmpdir(), 'edgehub-'));
    rig = await startHubRig({
      nodeName: NODE,
      dir,
      cloudStore,
      seed: async (a) => {
        await a.create(Resources.pods, pod('p1'));
        await a.create(Resources.pods, pod('p2'));
        await a.create(Resources.configmaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { a: '1' } });
        await a.create(Resources.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'infra' } }).catch(() => undefined);
        for (const name of ['lan', 'unused']) {
          await a.create(Resources.networkattachmentdefinitions, { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name, namespace: 'infra' }, spec: { config: '{"type":"bridge"}' } } as KubeObject);
        }
      },
      hub: { store: replicaStore, healthIntervalMs: 100, healthTimeoutMs: 500 },
    });
    ({ link, hub, local, admin } = rig);
  });

  after(async () => {
    watches.abort();
    await rig.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes its kubeconfig 0600 and refuses clients without the hub certificate', async () => {
    assert.equal((await stat(hub.kubeconfigPath)).mode & 0o777, 0o600);
    const conn = await loadKubeconfig(hub.kubeconfigPath);
    const anonymous = new HttpKubeClient({ server: hub.url, ca: conn.ca });
    await assert.rejects(anonymous.list(Resources.pods), (err: unknown) => isHedgeError(err, 'Unavailable') || isHedgeError(err));
    await anonymous.close();
  });

  it('online: serves the node view from the replica and caches gets by name', async () => {
    await until('pods replicated', async () => (await local.list(Resources.pods, { fieldSelector: `spec.nodeName=${NODE}` })).items.length === 2);
    const cm = await local.get(Resources.configmaps, 'cfg', { namespace: 'default' });
    assert.deepEqual(cm.data, { a: '1' });
    await local.get(Resources.networkattachmentdefinitions, 'lan', { namespace: 'infra' });
    await local.get(Resources.networkattachmentdefinitions, 'unused', { namespace: 'infra' });
    const node = await local.get(Resources.nodes, NODE);
    assert.equal(node.metadata.name, NODE);
  });

  it('serves the same API in plain HTTP on <dir>/hub.sock, root only, for the agent in its process: reads, a watch, writes', async () => {
    const sock = hub.socketPath ?? assert.fail('the hub serves no unix socket');
    assert.equal(sock, join(dir, 'hub', 'hub.sock'));
    assert.equal((await stat(sock)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'hub'))).mode & 0o777, 0o700);
    const viaSocket = new HttpKubeClient({ server: 'http://localhost', socketPath: sock, keepAliveMs: 200 });
    try {
      await until('pods replicated', async () => (await viaSocket.list(Resources.pods, { fieldSelector: `spec.nodeName=${NODE}` })).items.length === 2);
      const list = await viaSocket.list(Resources.pods, { fieldSelector: `spec.nodeName=${NODE}` });
      const ac = new AbortController();
      const seen = collect(viaSocket, list.metadata.resourceVersion, ac.signal);
      // a write as the node (to the cloud, then the replica) shows on the watch and through the certificate endpoint
      await viaSocket.patch(Resources.pods, 'p2', 'merge', { status: { message: 'via-socket' } }, { namespace: 'default', subresource: 'status' });
      await until('watch event', () => seen.events.some((e) => e.object.metadata.name === 'p2' && (e.object.status as { message?: string }).message === 'via-socket'));
      assert.equal(((await local.get(Resources.pods, 'p2', { namespace: 'default' })).status as { message?: string }).message, 'via-socket');
      ac.abort();
      assert.equal(seen.error, undefined);
    } finally {
      await viaSocket.close();
    }
  });

  it('a write body over the hub\'s limit is refused with a 413 Status, not forwarded', async () => {
    const sock = hub.socketPath ?? assert.fail('the hub serves no unix socket');
    const viaSocket = new HttpKubeClient({ server: 'http://localhost', socketPath: sock, keepAliveMs: 200 });
    try {
      const big = { status: { message: 'x'.repeat(3 * 1024 * 1024 + 1) } };
      await assert.rejects(
        viaSocket.patch(Resources.pods, 'p1', 'merge', big, { namespace: 'default', subresource: 'status' }),
        (err: unknown) => isHedgeError(err, 'RequestEntityTooLarge') && /limit is 3145728/.test((err as Error).message),
      );
      // the connection and the pod are as they were
      const p1 = await viaSocket.get(Resources.pods, 'p1', { namespace: 'default' });
      assert.notEqual((p1.status as { message?: string } | undefined)?.message?.length, big.status.message.length);
    } finally {
      await viaSocket.close();
    }
  });

  it('offline: reads from the cache, journals node writes, refuses others with 503, replays on reconnect', async () => {
    const list = await local.list(Resources.pods, { fieldSelector: `spec.nodeName=${NODE}` });
    const seen = collect(local, list.metadata.resourceVersion, watches.signal);
    const cut = Date.now();
    link.cut();
    await hub.waitFor('offline');
    assert.ok(Date.now() - cut < 2_000, `loss detected in ${Date.now() - cut} ms`);

    // reads
    assert.equal((await local.list(Resources.pods, { fieldSelector: `spec.nodeName=${NODE}` })).items.length, 2);
    assert.deepEqual((await local.get(Resources.configmaps, 'cfg', { namespace: 'default' })).data, { a: '1' });
    await assert.rejects(local.get(Resources.configmaps, 'never-seen', { namespace: 'default' }), (err: unknown) => isHedgeError(err, 'Unavailable'));
    // a NAD p1 attaches to is served offline from another namespace; one no pod names is not
    assert.equal(((await local.get(Resources.networkattachmentdefinitions, 'lan', { namespace: 'infra' })).spec as { config?: string }).config, '{"type":"bridge"}');
    await assert.rejects(local.get(Resources.networkattachmentdefinitions, 'unused', { namespace: 'infra' }), (err: unknown) => isHedgeError(err, 'Forbidden'));

    // entitled writes: applied locally and journaled
    const patched = await local.patch(Resources.pods, 'p1', 'merge', { status: { phase: 'Running' } }, { namespace: 'default', subresource: 'status' });
    assert.equal((patched.status as { phase?: string }).phase, 'Running');
    assert.equal(((await local.get(Resources.pods, 'p1', { namespace: 'default' })).status as { phase?: string }).phase, 'Running');
    const ev = await local.create(Resources.events, {
      metadata: { generateName: 'p1.', namespace: 'default' },
      involvedObject: { kind: 'Pod', name: 'p1', namespace: 'default' },
      reason: 'Started',
      message: 'offline',
      type: 'Normal',
    } as KubeObject);
    assert.ok(ev.metadata.name?.startsWith('p1.'));
    await local.patch(Resources.nodes, NODE, 'merge', { status: { nodeInfo: { kubeletVersion: 'offline' } } }, { subresource: 'status' });
    // labels and annotations are not the node's to change offline
    await assert.rejects(local.patch(Resources.nodes, NODE, 'merge', { metadata: { labels: { offline: 'yes' } } }), (err: unknown) => isHedgeError(err, 'Unavailable'));
    await assert.rejects(local.create(Resources.nodes, { metadata: { name: NODE } }), (err: unknown) => isHedgeError(err, 'AlreadyExists'));

    // not the node's business offline: a clear 503, never a fake success
    await assert.rejects(
      local.create(Resources.configmaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' } }),
      (err: unknown) => isHedgeError(err, 'Unavailable'),
    );
    await assert.rejects(local.delete(Resources.pods, 'p2', { namespace: 'default' }), (err: unknown) => isHedgeError(err, 'Unavailable'));
    assert.equal(hub.db.pendingCount(), 3);

    // meanwhile in the cloud: p2 deleted, p3 created, and history compacted so the watch cannot resume
    await admin.delete(Resources.pods, 'p2', { namespace: 'default', gracePeriodSeconds: 0 });
    await admin.create(Resources.pods, pod('p3'));
    await admin.patch(Resources.pods, 'p1', 'merge', { metadata: { labels: { touched: 'cloud' } } }, { namespace: 'default' });
    await cloudStore.compact(await cloudStore.currentRevision());

    link.restore();
    await hub.waitFor('online');
    assert.equal(hub.db.pendingCount(), 0);
    const p1 = await admin.get(Resources.pods, 'p1', { namespace: 'default' });
    assert.equal((p1.status as { phase?: string }).phase, 'Running');
    assert.equal(p1.metadata.labels?.touched, 'cloud');
    assert.equal(((await admin.get(Resources.nodes, NODE)).status as { nodeInfo?: { kubeletVersion?: string } }).nodeInfo?.kubeletVersion, 'offline');
    const events = await admin.list(Resources.events, { namespace: 'default' });
    assert.ok(events.items.some((e) => e.metadata.name === ev.metadata.name));
    assert.ok(events.items.some((e) => (e as { reason?: string }).reason === 'OfflineWriteConflict'), 'the p1 conflict is reported');

    // the relist after 410 reconciled the replica: local watchers got each change once
    await until('replica caught up', async () => {
      const names = (await local.list(Resources.pods, { fieldSelector: `spec.nodeName=${NODE}` })).items.map((p) => p.metadata.name).sort();
      return JSON.stringify(names) === JSON.stringify(['p1', 'p3']);
    });
    await until('watch events', () => seen.events.some((e) => e.type === 'ADDED' && e.object.metadata.name === 'p3'));
    const kinds = seen.events.map((e) => `${e.type} ${e.object.metadata.name}`);
    assert.equal(kinds.filter((k) => k === 'DELETED p2').length, 1, kinds.join(', '));
    assert.equal(kinds.filter((k) => k === 'ADDED p3').length, 1, kinds.join(', '));
    const rvs = seen.events.map((e) => e.object.metadata.resourceVersion);
    assert.equal(new Set(rvs).size, rvs.length, 'no event delivered twice');
    assert.equal(seen.error, undefined);
  });

  it('upgrades are answered with a Status, online and offline: 503 while the node server is not up, 404 for a pod not of this node, 400 for anything but the pod streams', async () => {
    const conn = await loadKubeconfig(hub.kubeconfigPath);
    const upgrade = (path: string, method: string, protocol: string): Promise<{ code: number; body: { kind?: string; reason?: string; message?: string; code?: number } }> =>
      new Promise((resolve, reject) => {
        const u = new URL(path, hub.url);
        const req = httpsRequest(
          { host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method, ca: conn.ca, cert: conn.cert, key: conn.key, headers: { connection: 'Upgrade', upgrade: protocol, 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'x-stream-protocol-version': 'v4.channel.k8s.io' } },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ code: res.statusCode ?? 0, body: JSON.parse(text) as never }));
          },
        );
        req.on('upgrade', () => reject(new Error('the hub switched protocols')));
        req.on('error', reject);
        req.end();
      });
    const cases: [string, string, string, number, RegExp][] = [
      ['/api/v1/namespaces/default/pods/p1/exec?command=sh&stdin=true&stdout=true', 'POST', 'SPDY/3.1', 503, /the server of node "edge-1" is not running/],
      ['/api/v1/namespaces/default/pods/p1/exec?command=sh&stdout=true', 'GET', 'websocket', 503, /the server of node "edge-1" is not running/],
      ['/api/v1/namespaces/default/pods/p1/attach?stdout=true', 'POST', 'SPDY/3.1', 503, /the server of node "edge-1" is not running/],
      ['/api/v1/namespaces/default/pods/elsewhere/exec?command=sh&stdout=true', 'GET', 'websocket', 404, /pods "elsewhere" not found on node "edge-1"/],
      ['/api/v1/namespaces/default/pods/p1/portforward?ports=80', 'GET', 'websocket', 503, /the server of node "edge-1" is not running/],
      ['/api/v1/namespaces/default/services/s/proxy', 'GET', 'websocket', 400, /upgrades only pods\/exec, pods\/attach and pods\/portforward/],
    ];
    for (const offline of [false, true]) {
      if (offline) {
        link.cut();
        await hub.waitFor('offline');
      }
      for (const [path, method, protocol, code, message] of cases) {
        const r = await upgrade(path, method, protocol);
        const what = `${method} ${path} (${protocol}) offline=${offline}`;
        assert.equal(r.code, code, `${what}: ${r.body.message}`);
        assert.equal(r.body.kind, 'Status');
        assert.match(r.body.message ?? '', message, what);
      }
    }
    link.restore();
    await hub.waitFor('online');
  });

  it('a resourceVersion the replica no longer has gets 410 Gone, offline too', async () => {
    link.cut();
    await hub.waitFor('offline');
    await replicaStore.compact(await replicaStore.currentRevision());
    const w = collect(local, '1', watches.signal);
    await until('watch answered', () => w.error !== undefined || w.events.length > 0);
    assert.ok(isHedgeError(w.error, 'Gone'), String(w.error));
    link.restore();
    await hub.waitFor('online');
  });
});
