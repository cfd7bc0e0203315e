import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHedgeError } from '../../lib/errors.ts';
import { parseAuthChallenges } from './auth-challenge.ts';
import { formatReference, parseReference, registryScheme } from './reference.ts';

const D = `sha256:${'a'.repeat(64)}`;

test('references normalize like docker/distribution', () => {
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['user/app', 'docker.io/user/app:latest'],
    ['index.docker.io/library/nginx', 'docker.io/library/nginx:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:v1', 'localhost:5000/app:v1'],
    ['127.0.0.1:5000/hedge/busybox:1', '127.0.0.1:5000/hedge/busybox:1'],
    ['ghcr.io/a/b/c:x', 'ghcr.io/a/b/c:x'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`r.io/x:t@${D}`, `r.io/x:t@${D}`],
  ];
  for (const [input, want] of cases) assert.equal(formatReference(parseReference(input)), want, input);
  const r = parseReference('127.0.0.1:5000/hedge/busybox:1');
  assert.deepEqual([r.registry, r.repository, r.tag], ['127.0.0.1:5000', 'hedge/busybox', '1']);
});

test('bad references are rejected with a clear message', () => {
  for (const bad of ['', 'hedge/UPPER', 'busybox@sha256:123', 'a//b', 'x:tag with space', 'busybox:']) {
    assert.throws(() => parseReference(bad), (e: unknown) => isHedgeError(e, 'Invalid') && /invalid reference format/.test(e.message), bad);
  }
});

test('plain HTTP only for loopback or configured insecure registries', () => {
  assert.equal(registryScheme('127.0.0.1:5000', []), 'http');
  assert.equal(registryScheme('localhost', []), 'http');
  assert.equal(registryScheme('docker.io', []), 'https');
  assert.equal(registryScheme('reg.lan:5000', []), 'https');
  assert.equal(registryScheme('reg.lan:5000', ['reg.lan:5000']), 'http');
});

test('WWW-Authenticate challenges parse with quoted values and several challenges', () => {
  const c = parseAuthChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
  assert.deepEqual(c, [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } }]);
  const two = parseAuthChallenges('Basic realm="Registry Realm", Bearer realm="http://x/t", error="invalid_token", error_description="a \\"quoted\\", b"');
  assert.equal(two.length, 2);
  assert.deepEqual(two[0], { scheme: 'basic', params: { realm: 'Registry Realm' } });
  assert.equal(two[1].params.error_description, 'a "quoted", b');
  assert.deepEqual(parseAuthChallenges('Basic'), [{ scheme: 'basic', params: {} }]);
});
