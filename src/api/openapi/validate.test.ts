import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDefinitions } from './definitions.ts';
import { validateAgainstSchema } from './validate.ts';

const defs = loadDefinitions();
const POD = 'io.k8s.api.core.v1.Pod';

const pod = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', labels: { app: 'x' }, annotations: { a: 'b' } },
  spec,
  ...extra,
});

describe('validateAgainstSchema', () => {
  it('accepts a well-formed pod', () => {
    const r = validateAgainstSchema(
      defs,
      POD,
      pod({
        containers: [
          {
            name: 'c',
            image: 'busybox',
            ports: [{ containerPort: 80, protocol: 'TCP' }],
            resources: { limits: { cpu: '100m', memory: 1024 }, requests: { cpu: 0.5 } },
            livenessProbe: { httpGet: { port: 'http', path: '/' } },
            readinessProbe: { tcpSocket: { port: 8080 } },
          },
        ],
        terminationGracePeriodSeconds: 30,
        nodeSelector: { zone: 'a' },
        tolerations: null,
      }, { status: { phase: 'Pending', startTime: '2024-01-01T00:00:00Z' } }),
    );
    assert.deepEqual(r, { unknownFields: [], typeErrors: [] });
  });

  it('reports unknown fields with upstream-style paths', () => {
    const r = validateAgainstSchema(
      defs,
      POD,
      pod({ containers: [{ name: 'c', image: 'i' }, { name: 'd', image: 'i', imagePullPolic: 'Always' }], bogus: 1 }, { extra: true }),
    );
    assert.deepEqual(r.unknownFields.sort(), ['extra', 'spec.bogus', 'spec.containers[1].imagePullPolic']);
    assert.deepEqual(r.typeErrors, []);
  });

  it('reports type errors and accepts both forms for IntOrString and Quantity', () => {
    const r = validateAgainstSchema(
      defs,
      POD,
      pod({
        containers: [
          {
            name: 'c',
            image: 5,
            ports: [{ containerPort: '80' }],
            resources: { limits: { cpu: true } },
            readinessProbe: { tcpSocket: { port: 1.5 } },
            stdin: 'yes',
          },
        ],
        volumes: {},
      }),
    );
    assert.deepEqual(r.unknownFields, []);
    assert.deepEqual(
      r.typeErrors.map((c) => c.field).sort(),
      [
        'spec.containers[0].image',
        'spec.containers[0].ports[0].containerPort',
        'spec.containers[0].readinessProbe.tcpSocket.port',
        'spec.containers[0].resources.limits.cpu',
        'spec.containers[0].stdin',
        'spec.volumes',
      ],
    );
    assert.ok(r.typeErrors.every((c) => c.reason === 'FieldValueTypeInvalid'));
    const port = r.typeErrors.find((c) => c.field.endsWith('containerPort'));
    assert.match(port?.message ?? '', /must be of type integer/);
  });

  it('allows anything inside free-form fields (RawExtension, FieldsV1)', () => {
    const r = validateAgainstSchema(defs, 'io.k8s.api.apps.v1.ControllerRevision', {
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: { name: 'r', managedFields: [{ manager: 'm', fieldsV1: { 'f:spec': { '.': {} } } }] },
      data: { anything: { goes: [1, 'x'] } },
      revision: 3,
    });
    assert.deepEqual(r, { unknownFields: [], typeErrors: [] });
  });

  it('throws for an unknown definition', () => {
    assert.throws(() => validateAgainstSchema(defs, 'io.k8s.api.core.v1.Nope', {}), /no OpenAPI definition/);
  });
});
