import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { loadDefinitions, validateAgainstSchema } from '../../api/openapi/index.ts';
import { defaultNodeConfig } from './config.ts';
import type { ImageInfo } from '../image/types.ts';
import { nodeImages, nodeStatus } from './node-status.ts';

const GiB = 1024 ** 3;

describe('node status', () => {
  it('fits the schema the apiserver serves: no unknown fields, no wrong types', () => {
    const cfg = { ...defaultNodeConfig('edge-a', '/tmp'), internalIP: '192.0.2.5', runtimeHandlers: ['runc', 'gvisor', 'microvm'] };
    const status = nodeStatus({
      cfg,
      cpus: 2,
      id: { hostname: 'edge-a', machineID: 'm1', bootID: 'b1', kernelVersion: '6.1.0', osImage: 'Debian GNU/Linux 12 (bookworm)', architecture: 'amd64' },
      usage: { memory: { totalBytes: 8 * GiB, availableBytes: 4 * GiB }, disk: { totalBytes: 100 * GiB, availableBytes: 50 * GiB }, pids: { used: 300, max: 4_194_304 } },
      now: Date.parse('2026-01-01T00:00:00Z'),
      notReady: 'container runtime is down',
      images: [{ ref: 'r.io/a:1', id: `sha256:${'1'.repeat(64)}`, digest: `sha256:${'a'.repeat(64)}`, sizeBytes: 5, config: {}, layers: [], lastUsed: new Date(0) }],
    });
    assert.equal(status.images?.length, 1);
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-a' }, status };
    const result = validateAgainstSchema(loadDefinitions(), 'io.k8s.api.core.v1.Node', node);
    assert.deepEqual(result.unknownFields, []);
    assert.deepEqual(result.typeErrors, []);
    // the field the 1.30-generated schema once lacked: guard that the check above saw it
    const handlers = (status as { runtimeHandlers?: { features?: Record<string, boolean> }[] }).runtimeHandlers;
    assert.equal(handlers?.[0]?.features?.userNamespaces, false);
  });
});

test('NodeStatus.images: one entry per image id, repo digests then tags (5 names at most), largest first, 50 at most', () => {
  const img = (ref: string, id: string, digest: string, sizeBytes: number): ImageInfo => ({ ref, id, digest, sizeBytes, config: {}, layers: [], lastUsed: new Date(0) });
  const d = (c: string): string => `sha256:${c.repeat(64)}`;
  const got = nodeImages([
    img('r.io/a:1', d('1'), d('a'), 100),
    img('r.io/a:latest', d('1'), d('a'), 100),
    img('r.io/b@' + d('b'), d('2'), d('b'), 300),
    img(d('c'), d('3'), d('c'), 500), // imported without a name
  ]);
  assert.deepEqual(got, [
    { names: [`r.io/b@${d('b')}`], sizeBytes: 300 },
    { names: [`r.io/a@${d('a')}`, 'r.io/a:1', 'r.io/a:latest'], sizeBytes: 100 },
  ]);
  const many = Array.from({ length: 60 }, (_, i) => img(`r.io/x${i}:1`, `sha256:${String(i).padStart(64, '0')}`, d('e'), i));
  const capped = nodeImages(many);
  assert.equal(capped.length, 50);
  assert.equal(capped[0].sizeBytes, 59);
});
