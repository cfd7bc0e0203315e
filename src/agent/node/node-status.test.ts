import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDefinitions, validateAgainstSchema } from '../../api/openapi/index.ts';
import { defaultNodeConfig } from './config.ts';
import { nodeStatus } from './node-status.ts';

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
    });
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-a' }, status };
    const result = validateAgainstSchema(loadDefinitions(), 'io.k8s.api.core.v1.Node', node);
    assert.deepEqual(result.unknownFields, []);
    assert.deepEqual(result.typeErrors, []);
    // the field the 1.30-generated schema once lacked: guard that the check above saw it
    const handlers = (status as { runtimeHandlers?: { features?: Record<string, boolean> }[] }).runtimeHandlers;
    assert.equal(handlers?.[0]?.features?.userNamespaces, false);
  });
});
