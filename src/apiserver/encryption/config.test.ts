import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EncryptionConfigError, parseEncryptionConfiguration } from './config.ts';

const k32 = Buffer.alloc(32, 7).toString('base64');
const k16 = Buffer.alloc(16, 7).toString('base64');

const doc = (resources: string): string => `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
${resources}`;

function problems(text: string): string[] {
  try {
    parseEncryptionConfiguration(text);
  } catch (err) {
    assert.ok(err instanceof EncryptionConfigError, String(err));
    return err.problems;
  }
  assert.fail('accepted');
}

test('a config as the upstream docs write it parses: resources, providers in order, decoded keys', () => {
  const c = parseEncryptionConfiguration(
    doc(`  - resources: [secrets, configmaps]
    providers:
      - aescbc:
          keys:
            - name: key1
              secret: ${k32}
      - aesgcm: { keys: [{ name: g, secret: ${k16} }] }
      - secretbox: { keys: [{ name: s, secret: ${k32} }] }
      - identity: {}
  - resources: ['*.apps', 'leases.coordination.k8s.io']
    providers: [{ identity: {} }]`),
  );
  assert.deepEqual(c.resources[0]!.resources, [{ group: '', resource: 'secrets' }, { group: '', resource: 'configmaps' }]);
  assert.deepEqual(c.resources[0]!.providers.map((p) => p.kind), ['aescbc', 'aesgcm', 'secretbox', 'identity']);
  const first = c.resources[0]!.providers[0]!;
  assert.ok(first.kind === 'aescbc' && first.keys[0]!.secret.equals(Buffer.alloc(32, 7)));
  assert.deepEqual(c.resources[1]!.resources, [{ group: 'apps', resource: '*' }, { group: 'coordination.k8s.io', resource: 'leases' }]);
  // JSON is YAML
  assert.equal(parseEncryptionConfiguration(JSON.stringify({ apiVersion: 'apiserver.config.k8s.io/v1', kind: 'EncryptionConfiguration', resources: [{ resources: ['secrets'], providers: [{ identity: {} }] }] })).resources.length, 1);
});

test('bad configs are refused naming the field, secrets redacted', () => {
  const keyProblems = problems(doc(`  - resources: [secrets]
    providers:
      - secretbox: { keys: [{ name: a, secret: ${k16} }] }
      - aescbc: { keys: [{ name: '', secret: 'not base64!' }] }`));
  assert.deepEqual(keyProblems, [
    'resources[0].providers[0].secretbox.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 16, expected one of [32]',
    'resources[0].providers[1].aescbc.keys[0].name: Required value: name is a mandatory field for a key',
    'resources[0].providers[1].aescbc.keys[0].secret: Invalid value: "REDACTED": secrets must be base64 encoded',
  ]);
  assert.match(problems(doc(`  - resources: [secrets]\n    providers: [{ identity: {}, aescbc: { keys: [] } }]`))[0]!, /^resources\[0\]\.providers\[0\]: more than one provider specified in a single element/);
  assert.match(problems(doc(`  - resources: [secrets]\n    providers: [{ aesgbc: {} }]`)).join('\n'), /resources\[0\]\.providers\[0\]\.aesgbc: unknown field/);
  assert.match(problems(doc(`  - resources: [secrets]\n    providers: [{ aescbc: { keys: [] } }]`))[0]!, /^resources\[0\]\.providers\[0\]\.aescbc\.keys: Required value/);
  assert.match(problems(doc(`  - resources: ['*']\n    providers: [{ identity: {} }]`))[0]!, /^resources\[0\]\.resources\[0\]: Invalid value: "\*": use '\*\.'/);
  assert.match(problems(doc(`  - resources: [Secrets]\n    providers: [{ identity: {} }]`))[0]!, /capital letters/);
  assert.match(problems(doc(`  - resources: [secrets, '*.']\n    providers: [{ identity: {} }]`))[0]!, /^resources\[0\]\.resources: Invalid value: using overlapping resources/);
  assert.match(problems(doc(`  - resources: [secrets]\n    providers: []`))[0]!, /^resources\[0\]\.providers: Required value/);
  assert.match(problems('apiVersion: v1\nkind: EncryptionConfiguration\nresources: []').join('\n'), /apiVersion: Unsupported value: "v1"[\s\S]*resources: Required value/);
  assert.match(problems('{ not yaml: [')[0]!, /not YAML or JSON/);
});

test('kms: apiVersion v2 with name, unix endpoint and timeout (default 3s); v1 refused with upstream\'s message', () => {
  const c = parseEncryptionConfiguration(
    doc(`  - resources: [secrets]
    providers:
      - kms: { apiVersion: v2, name: a, endpoint: 'unix:///run/kms/a.sock', timeout: 500ms }
      - kms: { apiVersion: v2, name: b, endpoint: 'unix:///run/kms/b.sock' }
      - identity: {}`),
  );
  assert.deepEqual(c.resources[0]!.providers.slice(0, 2), [
    { kind: 'kms', name: 'a', endpoint: 'unix:///run/kms/a.sock', timeoutMs: 500 },
    { kind: 'kms', name: 'b', endpoint: 'unix:///run/kms/b.sock', timeoutMs: 3000 },
  ]);
  const kms = (spec: string): string[] => problems(doc(`  - resources: [secrets]\n    providers: [{ kms: ${spec} }]`));
  assert.match(kms(`{ name: k, endpoint: 'unix:///k.sock' }`)[0]!, /^resources\[0\]\.providers\[0\]\.kms\.apiVersion: Invalid value: "v1": KMSv1 is deprecated and will only receive security updates going forward\. Use KMSv2 instead\. {2}Set --feature-gates=KMSv1=true/);
  assert.match(kms(`{ apiVersion: v3, name: k, endpoint: 'unix:///k.sock' }`)[0]!, /kms\.apiVersion: Invalid value: "v3": unsupported apiVersion v3 for KMS provider, only v1 and v2 are supported/);
  assert.deepEqual(kms(`{ apiVersion: v2 }`), [
    'resources[0].providers[0].kms.name: Required value: name is a mandatory field for a KMS provider',
    'resources[0].providers[0].kms.endpoint: Required value: endpoint is a mandatory field for a KMS provider',
  ]);
  assert.match(kms(`{ apiVersion: v2, name: 'a:b', endpoint: 'unix:///k.sock' }`)[0]!, /kms\.name: Invalid value: "a:b": invalid KMS provider name a:b, must not contain ':'/);
  assert.match(kms(`{ apiVersion: v2, name: k, endpoint: 'tcp://127.0.0.1:80' }`)[0]!, /kms\.endpoint: Invalid value: "tcp:\/\/127\.0\.0\.1:80": unsupported scheme "tcp" for KMS provider, only unix is supported/);
  assert.match(kms(`{ apiVersion: v2, name: k, endpoint: 'not a url' }`)[0]!, /kms\.endpoint: Invalid value: "not a url": invalid endpoint for kms provider/);
  assert.match(kms(`{ apiVersion: v2, name: k, endpoint: 'unix:///k.sock', cachesize: 100 }`)[0]!, /kms\.cachesize: Invalid value: 100: cachesize is not supported in v2/);
  assert.match(kms(`{ apiVersion: v2, name: k, endpoint: 'unix:///k.sock', timeout: 0s }`)[0]!, /kms\.timeout: Invalid value: "0s": timeout should be a positive value/);
  assert.match(kms(`{ apiVersion: v2, name: k, endpoint: 'unix:///k.sock', timeout: soon }`)[0]!, /kms\.timeout: Invalid value: "soon"/);
  assert.match(kms(`{ apiVersion: v2, name: k, endpoint: 'unix:///k.sock', secret: x }`)[0]!, /kms\.secret: unknown field/);
  const dup = problems(
    doc(`  - resources: [secrets]
    providers: [{ kms: { apiVersion: v2, name: k, endpoint: 'unix:///a.sock' } }]
  - resources: [configmaps]
    providers: [{ kms: { apiVersion: v2, name: k, endpoint: 'unix:///b.sock' } }]`),
  );
  assert.deepEqual(dup, ['resources[1].providers[0].kms.name: Invalid value: "k": duplicate KMS provider name k, names must be unique']);
});
