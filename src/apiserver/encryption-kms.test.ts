import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openStore } from '../store/index.ts';
import { Registry } from '../lib/prom.ts';
import { EncryptionAtRest, kmsMetrics, parseEncryptionConfiguration } from './encryption/index.ts';
import { hashLabel } from './encryption/metrics.ts';
import { decodeEncryptedObject, HKDF_SHA256_XNONCE_AES_GCM_SEED } from './encryption/kmsv2.ts';
import { TestKmsPlugin } from './encryption/testing/kms-plugin.ts';
import { FakeClock } from './flowcontrol/fake-clock.ts';
import { startTestServer, type TestServer } from './testing/test-server.ts';

const JSON_CT = { 'content-type': 'application/json' };
const PASSWORD = 'hunter2-kms-envelope';
const PREFIX = 'k8s:enc:kms:v2:kms1:';

interface Secret {
  metadata: { name: string; resourceVersion: string };
  data?: Record<string, string>;
}

/**
 * KMS v2 through the real apiserver on a SQLite file, with the test plugin on a unix socket: what
 * is stored, DEK reuse and rotation on a key_id change, the plugin going down, the health checks.
 * Time (the 20 s / 3 s check cache, the 3 min write deadline) is a FakeClock the test moves.
 */
describe('encryption at rest with a KMS v2 plugin (sqlite file)', () => {
  let dir: string;
  let db: string;
  let plugin: TestKmsPlugin;
  let clock: FakeClock;
  let t: TestServer | undefined;

  const start = async (): Promise<TestServer> => {
    await t?.close();
    t = undefined;
    clock = new FakeClock();
    const cfg = `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - kms: { apiVersion: v2, name: kms1, endpoint: '${plugin.endpoint}', timeout: 1s }
      - identity: {}
`;
    const metricsRegistry = new Registry();
    const encryption = new EncryptionAtRest(parseEncryptionConfiguration(cfg), { kms: { timers: clock, metrics: kmsMetrics(metricsRegistry, 'apiserver-test') } });
    t = await startTestServer({ store: await openStore({ kind: 'sqlite', path: db }), encryption, bootstrapPolicy: false, metricsRegistry });
    return t;
  };
  const raw = (name: string): Buffer | undefined => {
    const conn = new Database(db, { readonly: true });
    try {
      const row = conn.prepare<[string], { value: Buffer | string }>('SELECT value FROM log WHERE name = ? ORDER BY id DESC LIMIT 1').get(`/registry/core/secrets/default/${name}`);
      if (!row) return undefined;
      return Buffer.isBuffer(row.value) ? row.value : Buffer.from(row.value, 'utf8');
    } finally {
      conn.close();
    }
  };
  const stored = (name: string) => {
    const b = raw(name);
    assert.ok(b, `no row for ${name}`);
    assert.equal(b.subarray(0, PREFIX.length).toString('latin1'), PREFIX);
    assert.ok(!b.includes(PASSWORD) && !b.includes(Buffer.from(PASSWORD).toString('base64')), 'no plaintext on disk');
    return decodeEncryptedObject(b.subarray(PREFIX.length));
  };
  const secret = (name: string) => JSON.stringify({ metadata: { name }, data: { password: Buffer.from(PASSWORD).toString('base64') } });
  const create = (s: TestServer, name: string) => s.json<{ message?: string }>('/api/v1/namespaces/default/secrets', { method: 'POST', headers: JSON_CT, body: secret(name) });
  const read = async (s: TestServer, name: string) => {
    const r = await s.json<Secret & { message?: string }>(`/api/v1/namespaces/default/secrets/${name}`);
    return { ...r, password: r.body.data?.password === undefined ? undefined : Buffer.from(r.body.data.password, 'base64').toString() };
  };
  const health = async (s: TestServer, path: string) => {
    const r = await s.request(path);
    return { status: r.status, text: await r.text() };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-kms-'));
    db = join(dir, 'state.db');
    plugin = new TestKmsPlugin(join(dir, 'kms.sock'));
    await plugin.start();
  });
  after(async () => {
    await t?.close();
    await plugin?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stores secrets as k8s:enc:kms:v2:<name>: + EncryptedObject, one DEK seed for many writes, and reads them back', async () => {
    const s = await start();
    assert.equal(plugin.calls.encrypt, 1, 'the seed is encrypted once, at start');
    assert.equal((await create(s, 's1')).status, 201);
    assert.equal((await create(s, 's2')).status, 201);
    assert.equal(plugin.calls.encrypt, 1, 'writes reuse the seed');
    const o1 = stored('s1');
    const o2 = stored('s2');
    assert.equal(o1.keyID, 'key-1');
    assert.equal(o1.encryptedDEKSourceType, HKDF_SHA256_XNONCE_AES_GCM_SEED);
    assert.equal(o1.annotations['kek.kms.hedge.io']?.toString(), 'key-1');
    assert.ok(o1.encryptedDEKSource.equals(o2.encryptedDEKSource), 'same encrypted seed');
    assert.ok(!o1.encryptedData.subarray(0, 32).equals(o2.encryptedData.subarray(0, 32)), 'a per-write KDF info');
    assert.equal((await read(s, 's1')).password, PASSWORD);
    assert.equal((await health(s, '/healthz/kms-providers')).text, 'ok');
    assert.equal((await health(s, '/readyz?verbose')).text, '[+]ping ok\n[+]kms-providers ok\nreadyz check passed\n');
  });

  it('after a restart the DEK is decrypted by the plugin once per encrypted seed, and cached', async () => {
    const before = plugin.calls.decrypt;
    const s = await start();
    const list = await s.json<{ items: Secret[] }>('/api/v1/namespaces/default/secrets');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items.map((i) => i.metadata.name).sort(), ['s1', 's2']);
    assert.equal((await read(s, 's2')).password, PASSWORD);
    assert.equal(plugin.calls.decrypt - before, 1, 'one Decrypt for both values');
  });

  it('a key_id change rotates the seed; old values stay readable, are stale, and a replace makes them current', async () => {
    const s = await start();
    plugin.keyId = 'key-2';
    clock.advance(21_000); // past the 20 s the last good check is reused
    assert.equal((await health(s, '/healthz/kms-providers')).status, 200);
    assert.equal((await create(s, 's3')).status, 201);
    assert.equal(stored('s3').keyID, 'key-2');
    assert.equal((await read(s, 's1')).password, PASSWORD, 'a key-1 value still reads');
    // kubectl get -o json | kubectl replace -f -: the stale one is written again, the current one not
    for (const name of ['s1', 's3']) {
      const cur = await s.json<Secret>(`/api/v1/namespaces/default/secrets/${name}`);
      const put = await s.json<Secret>(`/api/v1/namespaces/default/secrets/${name}`, { method: 'PUT', headers: JSON_CT, body: JSON.stringify(cur.body) });
      assert.equal(put.status, 200);
      if (name === 's1') assert.notEqual(put.body.metadata.resourceVersion, cur.body.metadata.resourceVersion, 'stale: rewritten');
      else assert.equal(put.body.metadata.resourceVersion, cur.body.metadata.resourceVersion, 'current: a no-op');
    }
    assert.equal(stored('s1').keyID, 'key-2');
  });

  it('plugin down: health checks fail naming it; writes coast 3 minutes on the seed, then fail naming it; cached reads work', async () => {
    const s = await start();
    await plugin.stop();
    clock.advance(21_000);
    const one = await health(s, '/healthz/kms-providers');
    assert.equal(one.status, 500);
    assert.match(one.text, /^internal server error: kms-provider-0: failed to perform status section of the healthz check for KMS Provider kms1, error: /);
    for (const path of ['/healthz', '/readyz']) {
      const all = await health(s, path);
      assert.equal(all.status, 500, path);
      assert.match(all.text, /\[-\]kms-providers failed: reason withheld\n.*check failed/);
      const excluded = await health(s, `${path}?verbose&exclude=kms-providers`);
      assert.equal(excluded.status, 200, path);
      assert.equal(excluded.text, `[+]ping ok\n[+]kms-providers excluded: ok\n${path.slice(1)} check passed\n`);
    }
    // as upstream, the KMS check is on /healthz and /readyz only: a dead plugin does not get the apiserver restarted
    assert.equal((await health(s, '/livez')).text, 'ok');
    assert.equal((await health(s, '/livez/kms-providers')).status, 404);
    assert.equal((await create(s, 'coasting')).status, 201, 'within 3 minutes of the last good Status, as upstream');
    clock.advance(3 * 60_000);
    const refused = await create(s, 'refused');
    assert.equal(refused.status, 500);
    assert.match(refused.body.message!, /unable to transform key "\/registry\/core\/secrets\/default\/refused": KMS provider kms1: the DEK seed of key ID "key-2" expired/);
    assert.equal(raw('refused'), undefined, 'nothing written, and never as plaintext');
    assert.equal((await read(s, 's3')).password, PASSWORD, 'a value whose DEK is cached reads');

    await plugin.start();
    clock.advance(4_000); // past the 3 s a failed check is reused
    assert.equal((await health(s, '/readyz')).text, 'ok');
    assert.equal((await create(s, 'refused')).status, 201, 'writes work again');
  });

  it('started with the plugin down: reads of uncached DEKs and writes fail naming the provider', async () => {
    await plugin.stop();
    try {
      const s = await start();
      const r = await read(s, 's1');
      assert.equal(r.status, 500);
      assert.match(r.body.message!, /unable to transform key "\/registry\/core\/secrets\/default\/s1": no provider could decrypt it \(kms:kms1: KMS provider kms1: the DEK of this value \(key ID "key-2"\) is not decrypted: failed to decrypt DEK, error: rpc error: code = DeadlineExceeded/);
      const w = await create(s, 'never');
      assert.equal(w.status, 500);
      assert.match(w.body.message!, /KMS provider kms1 has no DEK to encrypt with: failed to perform status section of the healthz check for KMS Provider kms1/);
      assert.equal(raw('never'), undefined);
    } finally {
      await plugin.start();
    }
  });

  it('apiserver_envelope_encryption_* metrics at /metrics, with upstream\'s names and labels', async () => {
    const s = await start();
    const metrics = async (): Promise<string[]> => {
      const r = await s.request('/metrics');
      assert.equal(r.status, 200);
      return (await r.text()).split('\n');
    };
    /** the value of the one sample `name{...}` whose labels include all of `labels` */
    const sample = (lines: string[], name: string, labels: Record<string, string>): number | undefined => {
      const hits = lines.filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
      assert.ok(hits.length <= 1, hits.join('\n'));
      return hits[0] === undefined ? undefined : Number(hits[0].slice(hits[0].lastIndexOf(' ') + 1));
    };
    const ids = { provider_name: 'kms1', apiserver_id_hash: hashLabel('apiserver-test') };
    const key2 = { ...ids, key_id_hash: `sha256:${createHash('sha256').update('key-2').digest('hex')}` };
    const op = (method: string, code: string) => ({ provider_name: 'kms1', method_name: `/v2.KeyManagementService/${method}`, grpc_status_code: code });
    const writes = sample(await metrics(), 'apiserver_envelope_encryption_key_id_hash_total', { ...key2, transformation_type: 'to_storage' }) ?? 0;
    assert.equal((await create(s, 'm1')).status, 201);
    assert.equal((await read(s, 'm1')).password, PASSWORD);
    let m = await metrics();
    assert.equal(sample(m, 'apiserver_envelope_encryption_key_id_hash_total', { ...key2, transformation_type: 'to_storage' }), writes + 1);
    assert.ok(sample(m, 'apiserver_envelope_encryption_key_id_hash_total', { ...key2, transformation_type: 'from_storage' })! >= 1);
    const at = sample(m, 'apiserver_envelope_encryption_key_id_hash_last_timestamp_seconds', { ...key2, transformation_type: 'to_storage' })!;
    assert.ok(Math.abs(at - Date.now() / 1000) < 60, `a wall-clock time in seconds: ${at}`);
    assert.ok(sample(m, 'apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds', key2)! > 0);
    assert.equal(sample(m, 'apiserver_envelope_encryption_kms_operations_latency_seconds_count', op('Status', 'OK')), 1, 'the first Status');
    assert.equal(sample(m, 'apiserver_envelope_encryption_kms_operations_latency_seconds_count', op('Encrypt', 'OK')), 1, 'the seed');
    assert.ok(m.some((l) => l.startsWith('apiserver_envelope_encryption_kms_operations_latency_seconds_bucket{') && l.includes('le="0.0001"')), 'upstream\'s buckets from 0.1 ms');
    // the cache: the seed made at start, and every seed the plugin decrypted (values read at start included)
    const decrypted = () => sample(m, 'apiserver_envelope_encryption_kms_operations_latency_seconds_count', op('Decrypt', 'OK')) ?? 0;
    assert.equal(sample(m, 'apiserver_envelope_encryption_dek_source_cache_size', { provider_name: 'kms1' }), 1 + decrypted());
    assert.ok(m.includes('apiserver_envelope_encryption_dek_cache_fill_percent 0'), 'KMS v1\'s, registered as upstream does');

    // every stored value read: the seeds of key-1 too (decrypted through the plugin if not yet)
    assert.equal((await s.json('/api/v1/namespaces/default/secrets')).status, 200);
    m = await metrics();
    assert.ok(decrypted() >= 1);
    assert.equal(sample(m, 'apiserver_envelope_encryption_dek_source_cache_size', { provider_name: 'kms1' }), 1 + decrypted());
    const key1 = `sha256:${createHash('sha256').update('key-1').digest('hex')}`;
    assert.ok(sample(m, 'apiserver_envelope_encryption_key_id_hash_total', { ...ids, key_id_hash: key1, transformation_type: 'from_storage' })! >= 1);

    // Status with an empty key_id
    plugin.keyId = '';
    clock.advance(21_000);
    assert.equal((await health(s, '/healthz/kms-providers')).status, 500);
    m = await metrics();
    assert.equal(sample(m, 'apiserver_envelope_encryption_invalid_key_id_from_status_total', { provider_name: 'kms1', error: 'empty' }), 1);
    plugin.keyId = 'key-2';

    // the plugin down: Status waits for the connection up to the timeout, as Go's client (DeadlineExceeded)
    await plugin.stop();
    try {
      clock.advance(4_000);
      assert.equal((await health(s, '/healthz/kms-providers')).status, 500);
      m = await metrics();
      assert.equal(sample(m, 'apiserver_envelope_encryption_kms_operations_latency_seconds_count', op('Status', 'DeadlineExceeded')), 1);
    } finally {
      await plugin.start();
    }
  });
});
