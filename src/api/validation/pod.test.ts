import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../object.ts';
import { defaultPod } from '../defaults/pod.ts';
import { validatePod, validatePodUpdate } from './pod.ts';

function pod(spec: Record<string, unknown>): KubeObject {
  const p: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec };
  defaultPod(p);
  return p;
}
const fields = (obj: KubeObject): string[] => validatePod(obj).map((c) => c.field);

test('a defaulted minimal pod is valid', () => {
  assert.deepEqual(validatePod(pod({ containers: [{ name: 'a', image: 'nginx' }] })), []);
});

test('containers and images are required', () => {
  const c = validatePod(pod({ containers: [] }));
  assert.deepEqual(c, [{ field: 'spec.containers', reason: 'FieldValueRequired', message: 'Required value' }]);
  const img = validatePod(pod({ containers: [{ name: 'a' }] }));
  assert.deepEqual(img, [{ field: 'spec.containers[0].image', reason: 'FieldValueRequired', message: 'Required value' }]);
});

test('container names: DNS labels, unique across init and app containers', () => {
  assert.deepEqual(
    fields(pod({ initContainers: [{ name: 'a', image: 'x' }], containers: [{ name: 'a', image: 'x' }, { name: 'B', image: 'x' }, { image: 'x' }] })),
    ['spec.containers[0].name', 'spec.containers[1].name', 'spec.containers[2].name'],
  );
});

test('ports', () => {
  const c = validatePod(
    pod({
      containers: [
        {
          name: 'a',
          image: 'x',
          ports: [{ containerPort: 0 }, { containerPort: 70000, name: 'http' }, { containerPort: 80, name: 'http', protocol: 'ICMP' }],
        },
      ],
    }),
  );
  assert.deepEqual(
    c.map((x) => [x.field, x.reason]),
    [
      ['spec.containers[0].ports[0].containerPort', 'FieldValueRequired'],
      ['spec.containers[0].ports[1].containerPort', 'FieldValueInvalid'],
      ['spec.containers[0].ports[2].name', 'FieldValueDuplicate'],
      ['spec.containers[0].ports[2].protocol', 'FieldValueNotSupported'],
    ],
  );
  assert.equal(c[1].message, 'Invalid value: 70000: must be between 1 and 65535, inclusive');
});

test('resources: quantities parse and requests <= limits', () => {
  const c = validatePod(
    pod({ containers: [{ name: 'a', image: 'x', resources: { requests: { cpu: '2', memory: 'lots' }, limits: { cpu: '1' } } }] }),
  );
  assert.deepEqual(
    c.map((x) => x.field),
    ['spec.containers[0].resources.requests[memory]', 'spec.containers[0].resources.requests[cpu]'],
  );
  assert.equal(c[1].message, 'Invalid value: "2": must be less than or equal to cpu limit of 1');
  assert.match(c[0].message, /quantities must match the regular expression/);
});

test('enums, volumes, mounts, env, probes', () => {
  const c = validatePod(
    pod({
      restartPolicy: 'Sometimes',
      volumes: [{ name: 'v', emptyDir: {} }, { name: 'v', emptyDir: {} }, { name: 'w' }, { name: 'x', emptyDir: {}, hostPath: { path: '/' } }],
      containers: [
        {
          name: 'a',
          image: 'x',
          env: [{ name: '1BAD' }],
          volumeMounts: [{ name: 'nope', mountPath: '/a' }, { name: 'v', mountPath: '/a' }],
          livenessProbe: { successThreshold: 2, exec: { command: ['true'] } },
          readinessProbe: {},
        },
      ],
    }),
  );
  assert.deepEqual(
    c.map((x) => x.field),
    [
      'spec.volumes[1].name',
      'spec.volumes[2]',
      'spec.volumes[3].hostPath',
      'spec.containers[0].env[0].name',
      'spec.containers[0].volumeMounts[0].name',
      'spec.containers[0].volumeMounts[1].mountPath',
      'spec.containers[0].livenessProbe.successThreshold',
      'spec.containers[0].readinessProbe',
      'spec.restartPolicy',
    ],
  );
  assert.equal(c[4].message, 'Not found: "nope"');
  assert.equal(c.at(-1)!.message, 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"');
});

test('update: image, activeDeadlineSeconds and added tolerations may change', () => {
  const old = pod({ containers: [{ name: 'a', image: 'nginx:1' }], activeDeadlineSeconds: 100, tolerations: [{ key: 'k', operator: 'Exists' }] });
  const next = structuredClone(old);
  const spec = next.spec as { containers: { image: string }[]; activeDeadlineSeconds: number; tolerations: unknown[] };
  spec.containers[0].image = 'nginx:2';
  spec.activeDeadlineSeconds = 50;
  spec.tolerations.push({ key: 'other', operator: 'Exists', effect: 'NoSchedule' });
  assert.deepEqual(validatePodUpdate(next, old), []);
});

test('update: other spec changes are forbidden with upstream wording', () => {
  const old = pod({ containers: [{ name: 'a', image: 'nginx' }] });
  const next = structuredClone(old);
  (next.spec as { restartPolicy: string }).restartPolicy = 'Never';
  const c = validatePodUpdate(next, old);
  assert.equal(c.length, 1);
  assert.equal(c[0].field, 'spec');
  assert.equal(c[0].reason, 'FieldValueForbidden');
  assert.ok(c[0].message.startsWith('Forbidden: pod updates may not change fields other than `spec.containers[*].image`'));
  assert.match(c[0].message, /spec\.restartPolicy/);
  const more = structuredClone(old);
  (more.spec as { containers: unknown[] }).containers.push({ name: 'b', image: 'x' });
  assert.deepEqual(validatePodUpdate(more, old).map((x) => x.message), ['Forbidden: pod updates may not add or remove containers']);
  const dl = pod({ containers: [{ name: 'a', image: 'nginx' }], activeDeadlineSeconds: 10 });
  const dl2 = structuredClone(dl);
  (dl2.spec as { activeDeadlineSeconds: number }).activeDeadlineSeconds = 20;
  assert.deepEqual(validatePodUpdate(dl2, dl).map((x) => x.field), ['spec.activeDeadlineSeconds']);
  const tol = pod({ containers: [{ name: 'a', image: 'nginx' }], tolerations: [{ key: 'k', operator: 'Exists' }] });
  const tol2 = structuredClone(tol);
  (tol2.spec as { tolerations: unknown[] }).tolerations = [];
  assert.deepEqual(validatePodUpdate(tol2, tol).map((x) => x.field), ['spec.tolerations']);
});
