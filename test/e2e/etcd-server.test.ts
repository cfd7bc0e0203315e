/**
 * `hedge server --store etcd`: the real etcd from Debian behind the real server, driven by kubectl;
 * two servers on one etcd serve one cluster; an unreachable etcd fails the start clearly.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runHedge } from '../../src/cli/testing/run-hedge.ts';
import { startEtcd, type EtcdProcess } from '../../src/store/etcd/etcd-process.ts';
import { findKubectl, startHedgeServer, type HedgeServer } from './harness.ts';

const ETCD = '/usr/bin/etcd';
const skip = !existsSync(ETCD) ? `${ETCD} not installed (scripts/setup.sh installs etcd-server)` : findKubectl() === undefined ? 'no kubectl' : false;

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}

type Obj = { metadata: { name: string; resourceVersion: string; uid: string } };

describe('hedge server on etcd', { skip }, () => {
  let etcd: EtcdProcess;
  const servers: HedgeServer[] = [];
  before(async () => {
    etcd = await startEtcd(ETCD);
  });
  after(async () => {
    for (const s of [...servers].reverse()) await s.stop({ graceMs: 5000 }).catch(() => undefined);
    await servers[0]?.cleanup();
    await etcd?.stop();
  });

  it('serves kubectl from etcd, and two servers on one etcd are one cluster', async () => {
    const etcdArgs = ['--etcd-servers', etcd.endpoint, '--no-controllers'];
    const a = await startHedgeServer({ store: 'etcd', extraArgs: etcdArgs });
    servers.push(a);
    const created = await a.kubectl(['create', 'configmap', 'one', '--from-literal=k=v']);
    assert.equal(created.code, 0, created.stderr);

    // a second replica: same PKI and tokens (the shared data dir), its own port
    const b = await startHedgeServer({ store: 'etcd', dataDir: a.dataDir, extraArgs: etcdArgs });
    servers.push(b);
    const fromA = (await a.api('GET', '/api/v1/namespaces/default/configmaps/one')).body as Obj;
    const fromB = (await b.api('GET', '/api/v1/namespaces/default/configmaps/one')).body as Obj;
    assert.equal(fromB.metadata.uid, fromA.metadata.uid);
    assert.equal(fromB.metadata.resourceVersion, fromA.metadata.resourceVersion);

    // a write through A reaches a watch on B with the same resourceVersion
    const watch = b.spawnKubectl(['get', 'configmaps', '--watch-only', '-o', 'jsonpath={.metadata.name} {.metadata.resourceVersion}{"\\n"}']);
    let seen = '';
    watch.stdout?.on('data', (d: Buffer) => (seen += d.toString()));
    try {
      // the watch is open once kubectl has listed; write until B reports the write
      const deadline = Date.now() + 20_000;
      let rv = '';
      for (let i = 0; Date.now() < deadline; i++) {
        const r = await a.api('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `two-${i}` } });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        rv = (r.body as Obj).metadata.resourceVersion;
        await new Promise((res) => setTimeout(res, 300));
        if (seen.includes(`two-${i} ${rv}`)) break;
      }
      assert.match(seen, new RegExp(`two-\\d+ ${rv}`), `watch through B saw: ${seen}`);
    } finally {
      watch.kill('SIGTERM');
    }

    // a restart keeps everything (etcd holds the state, not the data dir)
    await b.stop();
    servers.pop();
    const again = await startHedgeServer({ store: 'etcd', dataDir: a.dataDir, extraArgs: etcdArgs });
    servers.push(again);
    const got = await again.kubectl(['get', 'configmap', 'one', '-o', 'jsonpath={.data.k}']);
    assert.equal(got.stdout, 'v', got.stderr);
  });

  it('hedge migrate moves a SQLite cluster into etcd, objects and revision order kept', async () => {
    const sqlite = await startHedgeServer({ store: 'sqlite', extraArgs: ['--no-controllers'] });
    servers.push(sqlite);
    for (const name of ['m-b', 'm-a', 'm-c']) {
      const r = await sqlite.kubectl(['create', 'configmap', name, `--from-literal=n=${name}`]);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal((await sqlite.kubectl(['label', 'configmap', 'm-b', 'touched=yes'])).code, 0);
    assert.equal((await sqlite.kubectl(['delete', 'configmap', 'm-c'])).code, 0);
    const before = ((await sqlite.api('GET', '/api/v1/namespaces/default/configmaps')).body as { items: Obj[] }).items;
    await sqlite.stop();
    servers.pop();

    // a fresh etcd prefix: the target must be empty
    const migrated = await runHedge(['migrate', '--from', sqlite.dataDir, '--to', etcd.endpoint.replace('http://', 'etcd://'), '--etcd-prefix', '/migrated']);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, /migrated \d+ objects .* verified: count \d+, sha256:[0-9a-f]{64}, revision order kept/);
    const again = await runHedge(['migrate', '--from', sqlite.dataDir, '--to', etcd.endpoint.replace('http://', 'etcd://'), '--etcd-prefix', '/migrated']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already holds \d+ keys/);

    const onEtcd = await startHedgeServer({ store: 'etcd', dataDir: sqlite.dataDir, extraArgs: ['--etcd-servers', etcd.endpoint, '--etcd-prefix', '/migrated', '--no-controllers'] });
    servers.push(onEtcd);
    const after = ((await onEtcd.api('GET', '/api/v1/namespaces/default/configmaps')).body as { items: Obj[] }).items;
    assert.deepEqual(after.map((o) => [o.metadata.name, o.metadata.uid]), before.map((o) => [o.metadata.name, o.metadata.uid]));
    const byRv = (items: Obj[]) => [...items].sort((x, y) => Number(x.metadata.resourceVersion) - Number(y.metadata.resourceVersion)).map((o) => o.metadata.name);
    assert.deepEqual(byRv(after), byRv(before));
    const label = await onEtcd.kubectl(['get', 'configmap', 'm-b', '-o', 'jsonpath={.metadata.labels.touched}']);
    assert.equal(label.stdout, 'yes', label.stderr);
    await onEtcd.stop();
    servers.pop();
    await sqlite.cleanup();
  });

  it('fails to start with a clear message when etcd is unreachable or not named', async () => {
    const port = await closedPort();
    const started = Date.now();
    const dataDir = await mkdtemp(join(tmpdir(), 'hedge-etcd-down-'));
    const r = await runHedge(['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--store', 'etcd', '--etcd-servers', `http://127.0.0.1:${port}`]).finally(() =>
      rm(dataDir, { recursive: true, force: true }),
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`--etcd-servers http://127\\.0\\.0\\.1:${port}: `));
    assert.ok(Date.now() - started < 20_000, 'the start fails within the etcd probe timeout');
    const missing = await runHedge(['server', '--store', 'etcd']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--store etcd needs --etcd-servers/);
  });
});
