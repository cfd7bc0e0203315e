import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolvePort } from './probe.ts';

test('probe ports: numbers, numeric strings and container port names (helm charts probe `port: http`)', () => {
  const ports = [{ name: 'http', containerPort: 8080 }, { name: 'metrics', containerPort: 9090 }];
  assert.equal(resolvePort(80, ports), 80);
  assert.equal(resolvePort('8081', ports), 8081);
  assert.equal(resolvePort('http', ports), 8080);
  assert.ok(Number.isNaN(resolvePort('grpc', ports)));
  assert.ok(Number.isNaN(resolvePort(undefined, ports)));
});
