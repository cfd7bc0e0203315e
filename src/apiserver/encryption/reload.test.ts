import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Registry } from '../../lib/prom.ts';
import { silentLogger } from '../../lib/log.ts';
import { parseEncryptionConfiguration } from './config.ts';
import type { KmsService } from './kmsv2.ts';
import { reloadMetrics } from './metrics.ts';
import { configHash } from './reload.ts';
import { EncryptionAtRest } from './transformer.ts';

const KEY = '/registry/core/secrets/default/a';
const secret = (): string => randomBytes(32).toString('base64');
const cbc = (...keys: [string, string][]): string => `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aescbc: { keys: [${keys.map(([n, k]) => `{ name: ${n}, secret: ${k} }`).join(', ')}] }
      - identity: {}
`;

/** the metric lines of the reload controller, without HELP/TYPE, the apiserver hash shortened */
async function reloadLines(r: InstanceType<typeof Registry>): Promise<string[]> {
  return (await r.metrics())
    .split('\n')
    .filter((l) => l.startsWith('apiserver_encryption_config_controller_'))
    .map((l) => l.replace(/apiserver_id_hash="sha256:[0-9a-f]{64}"/, 'id').replace(/(_timestamp_seconds\{[^}]*\}) \d+(\.\d+)?(e\+\d+)?$/, '$1 <now>'));
}

test('automatic reload: a changed valid file replaces the transformers at once, old values still read; a bad or missing file keeps them, counted', async () => {
  const k1 = secret();
  const k2 = secret();
  let file = cbc(['key1', k1]);
  let missing = false;
  const metrics = new Registry();
  const e = new EncryptionAtRest(parseEncryptionConfiguration(file), {
    automaticReload: {
      file: '/etc/enc.yaml',
      loaded: file,
      logger: silentLogger(),
      metrics: reloadMetrics(metrics, 'apiserver-test'),
      read: async () => {
        if (missing) throw new Error("ENOENT: no such file or directory, open '/etc/enc.yaml'");
        return file;
      },
    },
  });
  await e.start();
  try {
    const v1 = e.forKey(KEY)!.toStorage('{"v":1}', KEY);
    assert.ok(v1.startsWith('k8s:enc:aescbc:v1:key1:'));
    assert.equal(await e.reloadNow(), 'unchanged');
    assert.deepEqual(await reloadLines(metrics), [`apiserver_encryption_config_controller_last_config_info{id,hash="${configHash(file)}"} 1`]);

    // rotation, step 1 of upstream's procedure: a new first key, the old one kept for reading
    file = cbc(['key2', k2], ['key1', k1]);
    const before = e.generation;
    assert.equal(await e.reloadNow(), 'reloaded');
    assert.ok(e.generation > before, 'decoded objects cached before are dropped (their staleness changed)');
    const t = e.forKey(KEY)!;
    assert.ok(t.toStorage('{"v":2}', KEY).startsWith('k8s:enc:aescbc:v1:key2:'), 'writes use the new first key');
    assert.deepEqual(t.fromStorage(v1, KEY), { plain: '{"v":1}', stale: true }, 'values of the old key read, stale');
    assert.deepEqual(e.summary(), { 'secrets.': 'aescbc:key2, aescbc:key1, identity' });

    // a key of the wrong size: refused as at start, the current config stays
    const good = file;
    file = cbc(['key3', Buffer.alloc(7).toString('base64')]);
    assert.equal(await e.reloadNow(), 'failed');
    missing = true;
    assert.equal(await e.reloadNow(), 'failed');
    missing = false;
    file = 'kind: Broken\n';
    assert.equal(await e.reloadNow(), 'failed');
    assert.ok(e.forKey(KEY)!.toStorage('{}', KEY).startsWith('k8s:enc:aescbc:v1:key2:'), 'still the last good config');
    file = good;
    assert.equal(await e.reloadNow(), 'unchanged', 'the file back to what is loaded');
    assert.deepEqual(await reloadLines(metrics), [
      'apiserver_encryption_config_controller_automatic_reloads_total{status="success",id} 1',
      'apiserver_encryption_config_controller_automatic_reloads_total{status="failure",id} 3',
      'apiserver_encryption_config_controller_automatic_reload_failures_total{id} 3',
      'apiserver_encryption_config_controller_automatic_reload_success_total{id} 1',
      'apiserver_encryption_config_controller_automatic_reload_last_timestamp_seconds{status="success",id} <now>',
      'apiserver_encryption_config_controller_automatic_reload_last_timestamp_seconds{status="failure",id} <now>',
      `apiserver_encryption_config_controller_last_config_info{id,hash="${configHash(good)}"} 1`,
    ]);
  } finally {
    e.close();
  }
});

test('automatic reload: a config whose KMS plugin is not healthy is refused; a healthy one is swapped in and the health check follows it', async () => {
  let healthy = false;
  const service: KmsService = {
    status: async () => ({ version: 'v2', healthz: healthy ? 'ok' : 'sick', keyId: 'k' }),
    encrypt: async (_uid, plaintext) => ({ ciphertext: plaintext, keyId: 'k', annotations: {} }),
    decrypt: async (_uid, req) => req.ciphertext,
    close: () => undefined,
  };
  const start = cbc(['key1', secret()]);
  let file = start;
  const e = new EncryptionAtRest(parseEncryptionConfiguration(start), {
    kms: { service: () => service },
    automaticReload: { file: '/etc/enc.yaml', loaded: start, logger: silentLogger(), kmsHealthTimeoutMs: 250, read: async () => file },
  });
  await e.start();
  try {
    assert.equal(e.automaticReload, true);
    assert.equal(await e.checkKms(), undefined, 'no KMS provider: the check passes');
    file = `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - kms: { apiVersion: v2, name: vault, endpoint: 'unix:///tmp/none.sock' }
      - identity: {}
`;
    assert.equal(await e.reloadNow(), 'failed');
    assert.equal(e.kms.size, 0, 'the sick plugin is not taken');
    healthy = true;
    assert.equal(await e.reloadNow(), 'reloaded');
    assert.deepEqual([...e.kms.keys()], ['vault']);
    assert.equal(await e.checkKms(), undefined);
    assert.ok(e.forKey(KEY)!.toStorage('{}', KEY).startsWith('k8s:enc:kms:v2:vault:'));
  } finally {
    e.close();
  }
});
