import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Registry as PromRegistry } from '../lib/prom.ts';
import { openStore } from '../store/index.ts';
import { silentLogger } from '../lib/log.ts';
import { EncryptionAtRest, parseEncryptionConfiguration, reloadMetrics, transformationMetrics } from './encryption/index.ts';
import { until } from './testing/until.ts';
import { startTestServer, type TestServer } from './testing/test-server.ts';
import { openWatch } from './testing/watch-reader.ts';

const JSON_CT = { 'content-type': 'application/json' };
const key1 = randomBytes(32).toString('base64');
const key2 = randomBytes(32).toString('base64');
const PASSWORD = 'hunter2-correct-horse';

function config(providers: string): string {
  return `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
${providers}`;
}
const cbc = (name: string, secret: string): string => `      - aescbc: { keys: [{ name: ${name}, secret: ${secret} }] }\n`;
const identity = '      - identity: {}\n';

interface Secret {
  metadata: { name: string; resourceVersion: string };
  data?: Record<string, string>;
}

/**
 * The server on a SQLite file, restarted with different EncryptionConfigurations: what is on disk,
 * what the API returns, and the errors when no configured provider can read a value.
 */
describe('encryption at rest (sqlite file)', () => {
  let dir: string;
  let db: string;
  let t: TestServer | undefined;
  let metrics: PromRegistry;

  const start = async (providers?: string): Promise<TestServer> => {
    await t?.close();
    metrics = new PromRegistry();
    const encryption = providers === undefined ? undefined : new EncryptionAtRest(parseEncryptionConfiguration(config(providers)), { metrics: transformationMetrics(metrics) });
    t = await startTestServer({ store: await openStore({ kind: 'sqlite', path: db }), encryption, metricsRegistry: metrics, bootstrapPolicy: false });
    return t;
  };
  /** the newest stored row of a secret, read from the file as bytes */
  const raw = (name: string): Buffer => {
    const conn = new Database(db, { readonly: true });
    try {
      const row = conn.prepare<[string], { value: Buffer | string }>('SELECT value FROM log WHERE name = ? ORDER BY id DESC LIMIT 1').get(`/registry/core/secrets/default/${name}`);
      assert.ok(row, `no row for ${name}`);
      return Buffer.isBuffer(row.value) ? row.value : Buffer.from(row.value, 'utf8');
    } finally {
      conn.close();
    }
  };
  const secret = (name: string) => JSON.stringify({ metadata: { name }, data: { password: Buffer.from(PASSWORD).toString('base64') }});
  const noPlaintext = (b: Buffer): void => {
    assert.ok(!b.includes(PASSWORD), 'the plaintext is not on disk');
    assert.ok(!b.includes(Buffer.from(PASSWORD).toString('base64')), 'nor its base64');
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-encryption-'));
    db = join(dir, 'state.db');
  });
  after(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stores secrets encrypted with upstream\'s prefix, reads them back, and reads older plain values through identity', async () => {
    let s = await start();
    assert.equal((await s.json('/api/v1/namespaces/default/secrets', { method: 'POST', headers: JSON_CT, body: secret('before') })).status, 201);
    assert.ok(raw('before').toString().startsWith('{'), 'without a config secrets are stored as JSON');

    s = await start(cbc('key1', key1) + identity);
    const w = await openWatch(s, '/api/v1/namespaces/default/secrets?watch=1');
    try {
      assert.equal((await s.json('/api/v1/namespaces/default/secrets', { method: 'POST', headers: JSON_CT, body: secret('s1') })).status, 201);
      const stored = raw('s1');
      assert.ok(stored.subarray(0, 23).equals(Buffer.from('k8s:enc:aescbc:v1:key1:')), `stored value starts ${stored.subarray(0, 30).toString('latin1')}`);
      assert.equal((stored.length - 23) % 16, 0, 'IV + whole CBC blocks');
      noPlaintext(stored);
      const ev = await w.next();
      assert.equal(ev.type, 'ADDED');
      assert.equal((ev.object as Secret).data?.password, Buffer.from(PASSWORD).toString('base64'), 'the watch sees the decrypted object');
    } finally {
      w.close();
    }
    const got = await s.json<Secret>('/api/v1/namespaces/default/secrets/s1');
    assert.equal(got.status, 200);
    assert.equal(Buffer.from(got.body.data!.password!, 'base64').toString(), PASSWORD);
    const before = await s.json<Secret>('/api/v1/namespaces/default/secrets/before');
    assert.equal(before.status, 200, 'identity reads the value written before encryption');
    assert.equal(Buffer.from(before.body.data!.password!, 'base64').toString(), PASSWORD);
    assert.match(await (await s.request('/metrics')).text(), /apiserver_storage_transformation_operations_total\{transformation_type="to_storage",transformer_prefix="k8s:enc:aescbc:v1:key1:",status="OK"\} 1/);
  });

  it('a replace of unchanged objects rewrites stale ones with the first provider, and leaves current ones alone', async () => {
    const s = await start(cbc('key1', key1) + identity);
    const list = await s.json<{ items: Secret[] }>('/api/v1/namespaces/default/secrets');
    const rvs: Record<string, string> = {};
    for (const item of list.body.items) {
      const put = await s.json<Secret>(`/api/v1/namespaces/default/secrets/${item.metadata.name}`, { method: 'PUT', headers: JSON_CT, body: JSON.stringify(item) });
      assert.equal(put.status, 200);
      rvs[item.metadata.name] = put.body.metadata.resourceVersion;
    }
    const old = Object.fromEntries(list.body.items.map((i) => [i.metadata.name, i.metadata.resourceVersion]));
    assert.notEqual(rvs.before, old.before, 'the plain value was stale: written again');
    assert.equal(rvs.s1, old.s1, 'the current one was a no-op');
    assert.ok(raw('before').toString('latin1').startsWith('k8s:enc:aescbc:v1:key1:'));
    noPlaintext(raw('before'));
  });

  it('without a provider that reads a value: 500 naming the key, for get and list', async () => {
    let s = await start();
    const r = await s.json<{ code: number; message: string }>('/api/v1/namespaces/default/secrets/s1');
    assert.equal(r.status, 500);
    assert.match(r.body.message, /unable to transform key "\/registry\/core\/secrets\/default\/s1": identity transformer tried to read encrypted data \(stored as k8s:enc:aescbc:v1:key1:/);
    assert.equal((await s.json('/api/v1/namespaces/default/secrets')).status, 500);

    s = await start(cbc('key2', key2));
    const r2 = await s.json<{ message: string }>('/api/v1/namespaces/default/secrets/s1');
    assert.equal(r2.status, 500);
    assert.match(r2.body.message, /unable to transform key "\/registry\/core\/secrets\/default\/s1": the provided value does not match any of the supported transformers: a value stored as k8s:enc:aescbc:v1:key1:, and no configured provider \(aescbc:key2\) reads it/);
    assert.ok(!r2.body.message.includes(PASSWORD));
    // other resources are not configured: unaffected
    assert.equal((await s.json('/api/v1/namespaces/default/configmaps', { method: 'POST', headers: JSON_CT, body: JSON.stringify({ metadata: { name: 'c' } }) })).status, 201);
  });

  it('key rotation: key2 second, then first, then replace everything, then key1 removed', async () => {
    let s = await start(cbc('key1', key1) + cbc('key2', key2));
    assert.equal((await s.json('/api/v1/namespaces/default/secrets/s1')).status, 200);
    s = await start(cbc('key2', key2) + cbc('key1', key1));
    const list = await s.json<{ items: Secret[] }>('/api/v1/namespaces/default/secrets');
    assert.equal(list.status, 200);
    for (const item of list.body.items) {
      assert.equal((await s.json(`/api/v1/namespaces/default/secrets/${item.metadata.name}`, { method: 'PUT', headers: JSON_CT, body: JSON.stringify(item) })).status, 200);
    }
    for (const name of ['s1', 'before']) assert.ok(raw(name).toString('latin1').startsWith('k8s:enc:aescbc:v1:key2:'), name);
    s = await start(cbc('key2', key2));
    const got = await s.json<Secret>('/api/v1/namespaces/default/secrets/s1');
    assert.equal(got.status, 200);
    assert.equal(Buffer.from(got.body.data!.password!, 'base64').toString(), PASSWORD);
  });
});

/**
 * --encryption-provider-config-automatic-reload against a real file: the server polls it (every
 * 50 ms here instead of upstream's minute) and swaps to a valid new config while it runs.
 */
describe('encryption config automatic reload (sqlite file)', () => {
  let dir: string;
  let db: string;
  let file: string;
  let t: TestServer | undefined;
  const metrics = new PromRegistry();
  const rotatedKey = randomBytes(32).toString('base64');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-encryption-reload-'));
    db = join(dir, 'state.db');
    file = join(dir, 'encryption.yaml');
  });
  after(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const stored = (name: string): string => {
    const conn = new Database(db, { readonly: true });
    try {
      const row = conn.prepare<[string], { value: Buffer | string }>('SELECT value FROM log WHERE name = ? ORDER BY id DESC LIMIT 1').get(`/registry/core/secrets/default/${name}`);
      assert.ok(row, `no row for ${name}`);
      return (Buffer.isBuffer(row.value) ? row.value : Buffer.from(row.value, 'utf8')).toString('latin1');
    } finally {
      conn.close();
    }
  };
  const create = async (s: TestServer, name: string): Promise<number> =>
    (await s.json('/api/v1/namespaces/default/secrets', { method: 'POST', headers: JSON_CT, body: JSON.stringify({ metadata: { name }, data: { password: Buffer.from(PASSWORD).toString('base64') } }) })).status;
  const password = async (s: TestServer, name: string): Promise<string> => {
    const got = await s.json<Secret>(`/api/v1/namespaces/default/secrets/${name}`);
    assert.equal(got.status, 200, name);
    return Buffer.from(got.body.data!.password!, 'base64').toString();
  };
  const reloads = async (s: TestServer, status: 'success' | 'failure'): Promise<number> => {
    const m = new RegExp(`^apiserver_encryption_config_controller_automatic_reloads_total\\{status="${status}",apiserver_id_hash="sha256:[0-9a-f]{64}"\\} (\\d+)$`, 'm').exec(await (await s.request('/metrics')).text());
    return m ? Number(m[1]) : 0;
  };

  it('a secret written under key1, the file rotated to a new first key: new secrets use it, old and new both read; a bad file keeps it', async () => {
    const first = config(cbc('key1', key1));
    await writeFile(file, first);
    const encryption = new EncryptionAtRest(parseEncryptionConfiguration(first), {
      metrics: transformationMetrics(metrics),
      automaticReload: { file, loaded: first, logger: silentLogger(), metrics: reloadMetrics(metrics, 'apiserver-test'), intervalMs: 50 },
    });
    const s = (t = await startTestServer({ store: await openStore({ kind: 'sqlite', path: db }), encryption, metricsRegistry: metrics, bootstrapPolicy: false }));
    assert.equal(await create(s, 'old'), 201);
    assert.ok(stored('old').startsWith('k8s:enc:aescbc:v1:key1:'));
    // under reload the KMS check is there without any KMS provider (upstream's), passing
    assert.equal(await (await s.request('/healthz/kms-providers')).text(), 'ok');
    assert.equal(await (await s.request('/readyz?verbose')).text(), '[+]ping ok\n[+]kms-providers ok\nreadyz check passed\n');

    await writeFile(file, config(cbc('key2', rotatedKey) + cbc('key1', key1)));
    await until('the rotated config to be loaded', async () => (await reloads(s, 'success')) === 1);
    assert.equal(await create(s, 'new'), 201);
    assert.ok(stored('new').startsWith('k8s:enc:aescbc:v1:key2:'), 'written with the new first key');
    assert.ok(stored('old').startsWith('k8s:enc:aescbc:v1:key1:'), 'the old one is not rewritten by the reload');
    assert.equal(await password(s, 'old'), PASSWORD);
    assert.equal(await password(s, 'new'), PASSWORD);

    // (a look that caught the file half-written counted a failure too)
    const failed = await reloads(s, 'failure');
    await writeFile(file, config('      - aescbc: { keys: [{ name: key3, secret: c2hvcnQ= }] }\n'));
    await until('the bad file to be refused', async () => (await reloads(s, 'failure')) > failed);
    assert.equal(await create(s, 'after-bad'), 201);
    assert.ok(stored('after-bad').startsWith('k8s:enc:aescbc:v1:key2:'), 'the last good config stays');
    assert.equal(await reloads(s, 'success'), 1);
    assert.equal(await password(s, 'old'), PASSWORD);
  });
});

