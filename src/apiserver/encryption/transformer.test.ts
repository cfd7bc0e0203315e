import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Registry } from '../../lib/prom.ts';
import type { ProviderSpec } from './config.ts';
import { transformationMetrics } from './metrics.ts';
import { EncryptionAtRest, PrefixTransformers } from './transformer.ts';

const key1 = randomBytes(32);
const key2 = randomBytes(32);
const cbc = (name: string, secret: Buffer): ProviderSpec => ({ kind: 'aescbc', keys: [{ name, secret }] });
const identity: ProviderSpec = { kind: 'identity' };
const K = '/registry/core/secrets/default/s1';
const json = '{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}';

test('the first provider writes, prefixed k8s:enc:<provider>:v1:<key>:, and reads back not stale', () => {
  for (const kind of ['aescbc', 'aesgcm', 'secretbox'] as const) {
    const t = new PrefixTransformers([{ kind, keys: [{ name: 'key1', secret: key1 }] }]);
    const stored = t.toStorage(json, K);
    assert.ok(stored.startsWith(`k8s:enc:${kind}:v1:key1:`), kind);
    assert.ok(!stored.includes('aHVudGVyMg'), `${kind}: no plaintext`);
    assert.deepEqual(t.fromStorage(stored, K), { plain: json, stale: false });
  }
});

test('key rotation: a value of the second key reads, stale; the first key writes', () => {
  const old = new PrefixTransformers([cbc('key1', key1)]).toStorage(json, K);
  // step 1: key2 added second; step 2: key2 moved first
  for (const [providers, stale] of [[[cbc('key1', key1), cbc('key2', key2)], false], [[cbc('key2', key2), cbc('key1', key1)], true]] as const) {
    const t = new PrefixTransformers(providers);
    assert.deepEqual(t.fromStorage(old, K), { plain: json, stale });
  }
  // two keys of one provider entry are two prefixes, in order
  const t = new PrefixTransformers([{ kind: 'aescbc', keys: [{ name: 'key2', secret: key2 }, { name: 'key1', secret: key1 }] }]);
  assert.deepEqual(t.fromStorage(old, K), { plain: json, stale: true });
  assert.ok(t.toStorage(json, K).startsWith('k8s:enc:aescbc:v1:key2:'));
});

test('a key name listed twice with different secrets: the one that decrypts wins (no short-circuit on a prefix)', () => {
  const stored = new PrefixTransformers([cbc('k', key2)]).toStorage(json, K);
  const t = new PrefixTransformers([{ kind: 'aesgcm', keys: [{ name: 'k', secret: key1 }] }, cbc('k', key1), cbc('k', key2)]);
  assert.deepEqual(t.fromStorage(stored, K), { plain: json, stale: true });
});

test('identity fallback: plain JSON written before encryption reads when identity is listed, stale', () => {
  const t = new PrefixTransformers([cbc('key1', key1), identity]);
  assert.deepEqual(t.fromStorage(json, K), { plain: json, stale: true });
  // identity first (turning encryption off): writes plain, still reads the encrypted values
  const off = new PrefixTransformers([identity, cbc('key1', key1)]);
  assert.equal(off.toStorage(json, K), json);
  assert.deepEqual(off.fromStorage(t.toStorage(json, K), K), { plain: json, stale: true });
  assert.deepEqual(off.fromStorage(json, K), { plain: json, stale: false });
});

test('no provider reads the value: the error says so and names the stored prefix, never the content', () => {
  const t = new PrefixTransformers([cbc('key2', key2)]);
  assert.throws(() => t.fromStorage(json, K), (err: Error) => /does not match any of the supported transformers: an unencrypted value, and no configured provider \(aescbc:key2\)/.test(err.message) && !err.message.includes('aHVudGVyMg'));
  const old = new PrefixTransformers([cbc('key1', key1)]).toStorage(json, K);
  assert.throws(() => t.fromStorage(old, K), /a value stored as k8s:enc:aescbc:v1:key1:, and no configured provider \(aescbc:key2\) reads it/);
  // the right prefix with the wrong secret
  const wrong = new PrefixTransformers([cbc('key1', key2)]);
  assert.throws(() => wrong.fromStorage(old, K), /no provider could decrypt it \(aescbc:key1: /);
  // identity alone refuses encrypted data
  assert.throws(() => new PrefixTransformers([identity]).fromStorage(old, K), /does not match any of the supported transformers/);
});

test('aesgcm binds a value to its key: copied under another key it does not decrypt', () => {
  const t = new PrefixTransformers([{ kind: 'aesgcm', keys: [{ name: 'key1', secret: key1 }] }]);
  const stored = t.toStorage(json, K);
  assert.throws(() => t.fromStorage(stored, '/registry/core/secrets/default/s2'), /message authentication failed/);
});

test('resources: exact beats resource.group wildcard beats *.*; first entry wins; others are not encrypted', () => {
  const a = randomBytes(32);
  const b = randomBytes(32);
  const c = randomBytes(32);
  const e = new EncryptionAtRest({
    resources: [
      { resources: [{ group: '', resource: 'secrets' }, { group: 'apps', resource: 'deployments' }], providers: [cbc('exact', a)] },
      { resources: [{ group: 'apps', resource: '*' }], providers: [cbc('apps', b)] },
      { resources: [{ group: '', resource: 'secrets' }], providers: [cbc('masked', c)] },
      { resources: [{ group: '*', resource: '*' }], providers: [cbc('all', c)] },
    ],
  });
  const prefixOf = (key: string): string | undefined => e.forKey(key)?.toStorage('{}', key).split(':').slice(0, 5).join(':');
  assert.equal(prefixOf('/registry/core/secrets/ns/x'), 'k8s:enc:aescbc:v1:exact');
  assert.equal(prefixOf('/registry/apps/deployments/ns/x'), 'k8s:enc:aescbc:v1:exact');
  assert.equal(prefixOf('/registry/apps/statefulsets/ns/x'), 'k8s:enc:aescbc:v1:apps');
  assert.equal(prefixOf('/registry/core/configmaps/ns/x'), 'k8s:enc:aescbc:v1:all');
  const only = new EncryptionAtRest({ resources: [{ resources: [{ group: '', resource: '*' }], providers: [cbc('core', a)] }] });
  assert.ok(only.forKey('/registry/core/configmaps/ns/x'));
  assert.equal(only.forKey('/registry/apps/deployments/ns/x'), undefined);
  assert.equal(only.forKey('/registry'), undefined);
});

test('apiserver_storage_transformation_operations_total counts by type, prefix and status', async () => {
  const registry = new Registry();
  const metrics = transformationMetrics(registry);
  const t = new PrefixTransformers([cbc('key1', key1), identity], metrics);
  t.fromStorage(t.toStorage(json, K), K);
  t.fromStorage(json, K);
  assert.throws(() => new PrefixTransformers([cbc('key1', key2)], metrics).fromStorage(t.toStorage(json, K), K));
  const text = await registry.metrics();
  assert.match(text, /apiserver_storage_transformation_operations_total\{transformation_type="to_storage",transformer_prefix="k8s:enc:aescbc:v1:key1:",status="OK"\} 2/);
  assert.match(text, /\{transformation_type="from_storage",transformer_prefix="k8s:enc:aescbc:v1:key1:",status="OK"\} 1/);
  assert.match(text, /\{transformation_type="from_storage",transformer_prefix="identity",status="OK"\} 1/);
  assert.match(text, /\{transformation_type="from_storage",transformer_prefix="k8s:enc:aescbc:v1:key1:",status="Unknown"\} 1/);
});
