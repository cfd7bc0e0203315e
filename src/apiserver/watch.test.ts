import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './testing/test-server.ts';
import { openWatch } from './testing/watch-reader.ts';

const JSON_CT = { 'content-type': 'application/json' };

describe('apiserver watch', () => {
  let t: TestServer;
  let internalWatches = 0;
  const create = async (ns: string, name: string, labels: Record<string, string> = {}) => {
    const r = await t.json<{ metadata: { resourceVersion: string } }>(`/api/v1/namespaces/${ns}/configmaps`, {
      method: 'POST',
      headers: JSON_CT,
      body: JSON.stringify({ metadata: { name, labels } }),
    });
    assert.equal(r.status, 201);
    return r.body.metadata.resourceVersion;
  };
  const relabel = (ns: string, name: string, labels: Record<string, string | null>) =>
    t.json(`/api/v1/namespaces/${ns}/configmaps/${name}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ metadata: { labels } }),
    });
  const waitFor = async (cond: () => boolean, what: string) => {
    const deadline = Date.now() + 3000;
    while (!cond()) {
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  before(async () => {
    t = await startTestServer({ watchBookmarkIntervalMs: 50 });
    // the apiserver's own caches (RBAC, the node graph) hold store watches for its whole life
    internalWatches = t.store.openWatches;
    for (const ns of ['w1', 'w2', 'w3', 'w4', 'w5']) {
      await t.json('/api/v1/namespaces', { method: 'POST', headers: JSON_CT, body: JSON.stringify({ metadata: { name: ns } }) });
    }
  });
  after(async () => {
    await t.close();
  });

  it('sends synthetic ADDED events for current state, then live events', async () => {
    await create('w1', 'a');
    const w = await openWatch(t, '/api/v1/namespaces/w1/configmaps?watch=1');
    try {
      assert.equal(w.status, 200);
      assert.equal(w.contentType, 'application/json');
      const first = await w.next();
      assert.equal(first.type, 'ADDED');
      assert.equal(first.object.metadata?.name, 'a');
      await create('w1', 'b');
      const second = await w.next();
      assert.equal(second.type, 'ADDED');
      assert.equal(second.object.metadata?.name, 'b');
      await relabel('w1', 'b', { x: 'y' });
      assert.equal((await w.next()).type, 'MODIFIED');
      await t.json('/api/v1/namespaces/w1/configmaps/b', { method: 'DELETE' });
      const del = await w.next();
      assert.equal(del.type, 'DELETED');
      assert.equal(del.object.metadata?.name, 'b');
    } finally {
      w.close();
    }
  });

  it('resumes after a resourceVersion, exclusive', async () => {
    const rv1 = await create('w2', 'one');
    await create('w2', 'two');
    const w = await openWatch(t, `/api/v1/namespaces/w2/configmaps?watch=true&resourceVersion=${rv1}`);
    try {
      const ev = await w.next();
      assert.equal(ev.type, 'ADDED');
      assert.equal(ev.object.metadata?.name, 'two');
    } finally {
      w.close();
    }
  });

  it('serves the legacy /watch/ path for a single object', async () => {
    await create('w2', 'solo');
    const w = await openWatch(t, '/api/v1/watch/namespaces/w2/configmaps/solo');
    try {
      const ev = await w.next();
      assert.equal(ev.object.metadata?.name, 'solo');
      await relabel('w2', 'one', { other: 'change' });
      await relabel('w2', 'solo', { mine: 'yes' });
      const next = await w.next();
      assert.equal(next.type, 'MODIFIED');
      assert.equal(next.object.metadata?.name, 'solo');
    } finally {
      w.close();
    }
  });

  it('translates selector entry and exit into ADDED and DELETED', async () => {
    const w = await openWatch(t, '/api/v1/namespaces/w3/configmaps?watch=1&labelSelector=app%3Dweb');
    try {
      await create('w3', 'x', { app: 'db' });
      await relabel('w3', 'x', { app: 'web' });
      const added = await w.next();
      assert.equal(added.type, 'ADDED');
      assert.equal(added.object.metadata?.name, 'x');
      await relabel('w3', 'x', { tier: 'front' });
      assert.equal((await w.next()).type, 'MODIFIED');
      const rvBefore = Number((await t.json<{ metadata: { resourceVersion: string } }>('/api/v1/namespaces/w3/configmaps/x')).body.metadata.resourceVersion);
      await relabel('w3', 'x', { app: 'db' });
      const gone = await w.next();
      assert.equal(gone.type, 'DELETED');
      assert.ok(Number(gone.object.metadata?.resourceVersion) > rvBefore, 'DELETED carries the event resourceVersion');
    } finally {
      w.close();
    }
  });

  it('sends bookmarks, and the initial-events-end bookmark for sendInitialEvents', async () => {
    await create('w4', 'init');
    const w = await openWatch(
      t,
      '/api/v1/namespaces/w4/configmaps?watch=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan',
    );
    try {
      const added = await w.next();
      assert.equal(added.type, 'ADDED');
      const end = await w.next();
      assert.equal(end.type, 'BOOKMARK');
      assert.equal(end.object.kind, 'ConfigMap');
      assert.equal(end.object.metadata?.annotations?.['k8s.io/initial-events-end'], 'true');
      const periodic = await w.next(2000);
      assert.equal(periodic.type, 'BOOKMARK');
      assert.match(periodic.object.metadata?.resourceVersion ?? '', /^\d+$/);
    } finally {
      w.close();
    }
    const bad = await t.json('/api/v1/namespaces/w4/configmaps?watch=1&sendInitialEvents=true');
    assert.equal(bad.status, 422);
  });

  it('reports a compacted resourceVersion as an ERROR event with a 410 Status', async () => {
    const rv = await create('w5', 'old');
    await create('w5', 'newer');
    await t.store.compact(await t.store.currentRevision());
    const w = await openWatch(t, `/api/v1/namespaces/w5/configmaps?watch=1&resourceVersion=${rv}`);
    try {
      const ev = await w.next();
      assert.equal(ev.type, 'ERROR');
      assert.equal(ev.object.kind, 'Status');
      assert.equal(ev.object.code, 410);
      assert.equal(ev.object.reason, 'Expired');
      assert.match(String(ev.object.message), /^too old resource version: /);
      assert.equal(await w.ended(), true);
    } finally {
      w.close();
    }
  });

  it('serves Table events when asked', async () => {
    const w = await openWatch(t, '/api/v1/namespaces/w1/configmaps?watch=1', { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    try {
      const ev = await w.next();
      assert.equal(ev.type, 'ADDED');
      assert.equal(ev.object.kind, 'Table');
      assert.equal((ev.object.rows as unknown[]).length, 1);
      assert.ok((ev.object.columnDefinitions as unknown[]).length > 0);
      await create('w1', 'table-later');
      let later = await w.next();
      while (later.object.kind === 'Table' && (later.object.rows as { cells: unknown[] }[])[0].cells[0] !== 'table-later') later = await w.next();
      assert.deepEqual(later.object.columnDefinitions, []);
    } finally {
      w.close();
    }
  });

  it('ends at timeoutSeconds and releases store watches on disconnect', async () => {
    const base = internalWatches;
    const timed = await openWatch(t, '/api/v1/namespaces/w1/configmaps?watch=1&timeoutSeconds=1&resourceVersion=0');
    assert.equal(await timed.ended(3000), true);
    timed.close();
    await waitFor(() => t.store.openWatches === base, 'timed-out watch release');
    const watches = await Promise.all([1, 2, 3].map(() => openWatch(t, '/api/v1/configmaps?watch=1')));
    await waitFor(() => t.store.openWatches === base + 3, 'three store watches');
    for (const w of watches) w.close();
    await waitFor(() => t.store.openWatches === base, 'store watches released');
  });

  it('node-indexed pod watches (spec.nodeName=, the store\'s trigger): each sees its pods enter and leave, nothing else', async () => {
    const pods = '/api/v1/namespaces/w5/pods';
    const post = (path: string, body: unknown) => t.json(path, { method: 'POST', headers: JSON_CT, body: JSON.stringify(body) });
    const bind = (pod: string, node: string) =>
      post(`${pods}/${pod}/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: pod }, target: { apiVersion: 'v1', kind: 'Node', name: node } });
    const names = (ws: Awaited<ReturnType<typeof openWatch>>, n: number) =>
      Promise.all(Array.from({ length: n }, () => ws.next())).then((evs) => evs.map((e) => `${e.type} ${e.object.metadata?.name}`));
    const n1 = await openWatch(t, `${pods}?watch=1&fieldSelector=spec.nodeName%3Dn1`);
    const n2 = await openWatch(t, `${pods}?watch=1&fieldSelector=spec.nodeName%3D%3Dn2`);
    // the scheduler's watch: unscheduled pods
    const none = await openWatch(t, `${pods}?watch=1&fieldSelector=spec.nodeName%3D`);
    // a node that has no pods, and a watch with another field operator (not indexed)
    const n3 = await openWatch(t, `${pods}?watch=1&fieldSelector=spec.nodeName%3Dn3`);
    const notN1 = await openWatch(t, `${pods}?watch=1&fieldSelector=spec.nodeName!%3Dn1`);
    try {
      for (const name of ['p1', 'p2']) {
        assert.equal((await post(pods, { metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox' }] } })).status, 201);
      }
      assert.equal((await bind('p1', 'n1')).status, 201);
      assert.equal((await bind('p2', 'n2')).status, 201);
      assert.equal((await t.json(`${pods}/p1`, { method: 'DELETE', headers: JSON_CT, body: JSON.stringify({ gracePeriodSeconds: 0 }) })).status, 200);
      assert.deepEqual(await names(none, 4), ['ADDED p1', 'ADDED p2', 'DELETED p1', 'DELETED p2'], 'unscheduled: created, then bound away');
      assert.deepEqual(await names(n1, 2), ['ADDED p1', 'DELETED p1']);
      assert.deepEqual(await names(n2, 1), ['ADDED p2']);
      assert.deepEqual(await names(notN1, 4), ['ADDED p1', 'ADDED p2', 'DELETED p1', 'MODIFIED p2'], 'not indexed (!=): filtered as before');
      // nothing more for n1, n2, n3: a marker pod bound to n3 is n3's first event
      assert.equal((await post(pods, { metadata: { name: 'marker' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } })).status, 201);
      assert.equal((await bind('marker', 'n3')).status, 201);
      assert.deepEqual(await names(n3, 1), ['ADDED marker']);
    } finally {
      for (const w of [n1, n2, none, n3, notN1]) w.close();
    }
  });

  it('name-indexed node watches (metadata.name=, the store\'s trigger for nodes): each agent sees its own Node alone', async () => {
    const nodes = '/api/v1/nodes';
    const a = await openWatch(t, `${nodes}?watch=1&fieldSelector=metadata.name%3Dwn-a`);
    const b = await openWatch(t, `${nodes}?watch=1&fieldSelector=metadata.name%3Dwn-b`);
    try {
      for (const name of ['wn-a', 'wn-b', 'wn-c']) assert.equal((await t.json(nodes, { method: 'POST', headers: JSON_CT, body: JSON.stringify({ metadata: { name } }) })).status, 201);
      const patch = (name: string, value: string) =>
        t.json(`${nodes}/${name}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ metadata: { labels: { l: value } } }) });
      assert.equal((await patch('wn-c', '1')).status, 200);
      assert.equal((await patch('wn-a', '1')).status, 200);
      assert.equal((await t.json(`${nodes}/wn-a`, { method: 'DELETE' })).status, 200);
      assert.equal((await patch('wn-b', '1')).status, 200);
      const seen = async (w: Awaited<ReturnType<typeof openWatch>>, n: number) =>
        (await Promise.all(Array.from({ length: n }, () => w.next()))).map((e) => `${e.type} ${e.object.metadata?.name} ${(e.object.metadata as { labels?: Record<string, string> } | undefined)?.labels?.l ?? '-'}`);
      assert.deepEqual(await seen(a, 3), ['ADDED wn-a -', 'MODIFIED wn-a 1', 'DELETED wn-a 1']);
      assert.deepEqual(await seen(b, 2), ['ADDED wn-b -', 'MODIFIED wn-b 1']);
    } finally {
      a.close();
      b.close();
      for (const name of ['wn-b', 'wn-c']) await t.json(`${nodes}/${name}`, { method: 'DELETE' });
    }
  });
});
