import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHedgeError, type HedgeError } from '../../lib/errors.ts';
import type { ManagedFieldsEntry } from 'kubernetes-types/meta/v1.js';
import type { Json, KubeObject } from '../object.ts';
import { compareValues, FieldSet, leaves } from './field-set.ts';
import { patchMetaFromOpenAPI, type OpenAPIV2Schema } from './patch-meta.ts';
import { serverSideApply, updateManagedFields } from './server-side-apply.ts';

const ref = (name: string): OpenAPIV2Schema => ({ $ref: `#/definitions/${name}` });
const stringMap: OpenAPIV2Schema = { type: 'object', additionalProperties: { type: 'string' } };
/** Mini Pod/Deployment definitions with the vendor extensions the generated ones carry. */
const definitions: Record<string, OpenAPIV2Schema> = {
  'io.k8s.api.apps.v1.Deployment': {
    type: 'object',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: ref('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'),
      spec: ref('io.k8s.api.apps.v1.DeploymentSpec'),
      status: { type: 'object', properties: { replicas: { type: 'integer' } } },
    },
  },
  'io.k8s.api.apps.v1.DeploymentSpec': {
    type: 'object',
    properties: {
      replicas: { type: 'integer' },
      template: { type: 'object', properties: { metadata: ref('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'), spec: ref('io.k8s.api.core.v1.PodSpec') } },
    },
  },
  'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': {
    type: 'object',
    properties: {
      name: { type: 'string' },
      namespace: { type: 'string' },
      labels: stringMap,
      annotations: stringMap,
      finalizers: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set', 'x-kubernetes-patch-strategy': 'merge' },
    },
  },
  'io.k8s.api.core.v1.PodSpec': {
    type: 'object',
    properties: {
      containers: {
        type: 'array',
        items: ref('io.k8s.api.core.v1.Container'),
        'x-kubernetes-patch-strategy': 'merge',
        'x-kubernetes-patch-merge-key': 'name',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      },
    },
  },
  'io.k8s.api.core.v1.Container': {
    type: 'object',
    properties: {
      name: { type: 'string' },
      image: { type: 'string' },
      args: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'atomic' },
      env: { type: 'array', items: { type: 'object' }, 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'name' },
      ports: {
        type: 'array',
        items: ref('io.k8s.api.core.v1.ContainerPort'),
        'x-kubernetes-patch-strategy': 'merge',
        'x-kubernetes-patch-merge-key': 'containerPort',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['containerPort', 'protocol'],
      },
    },
  },
  'io.k8s.api.core.v1.ContainerPort': {
    type: 'object',
    properties: { containerPort: { type: 'integer' }, protocol: { type: 'string' }, name: { type: 'string' } },
  },
};
const meta = patchMetaFromOpenAPI(definitions, 'io.k8s.api.apps.v1.Deployment');

const t0 = new Date('2025-01-01T00:00:00Z');
const t1 = new Date('2025-01-01T00:01:00Z');
const t2 = new Date('2025-01-01T00:02:00Z');

function manifest(opts: { image?: string; labels?: Record<string, string>; replicas?: number; env?: boolean } = {}): KubeObject {
  const container: Record<string, unknown> = { name: 'c', image: opts.image ?? 'nginx:1' };
  if (opts.env) container.env = [{ name: 'A', value: '1' }];
  const spec: Record<string, unknown> = { template: { spec: { containers: [container] } } };
  if (opts.replicas !== undefined) spec.replicas = opts.replicas;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: opts.labels ?? { app: 'web' } },
    spec,
  };
}

/** What the store adds on create; SSA must ignore these for ownership. */
function persisted(obj: KubeObject): KubeObject {
  const o = structuredClone(obj);
  o.metadata.uid = 'u-1';
  o.metadata.resourceVersion = '7';
  o.metadata.creationTimestamp = '2025-01-01T00:00:00Z';
  o.status = { replicas: 1 };
  return o;
}

const isConflict = (e: unknown): e is HedgeError => isHedgeError(e, 'Conflict');

test('first apply creates the object and records an Apply entry in FieldsV1 form', () => {
  const out = serverSideApply({ live: undefined, applied: manifest({ replicas: 2 }), manager: 'kubectl', force: false, meta, now: t0 });
  assert.equal((out.spec as { replicas: number }).replicas, 2);
  assert.deepStrictEqual(out.metadata.managedFields, [
    {
      manager: 'kubectl',
      operation: 'Apply',
      apiVersion: 'apps/v1',
      time: '2025-01-01T00:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:labels': { 'f:app': {} } },
        'f:spec': {
          'f:replicas': {},
          'f:template': {
            'f:spec': { 'f:containers': { 'k:{"name":"c"}': { '.': {}, 'f:image': {}, 'f:name': {} } } },
          },
        },
      },
    },
  ]);
});

test('apply twice is idempotent; change, then field removal, behave like upstream', () => {
  const first = persisted(serverSideApply({ live: undefined, applied: manifest({ env: true }), manager: 'kubectl', force: false, meta, now: t0 }));
  const again = serverSideApply({ live: first, applied: manifest({ env: true }), manager: 'kubectl', force: false, meta, now: t1 });
  assert.deepStrictEqual(again, first, 'second identical apply changes nothing, not even the timestamp');

  const changed = serverSideApply({ live: again, applied: manifest({ env: true, image: 'nginx:2' }), manager: 'kubectl', force: false, meta, now: t1 });
  const c = (changed.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec.containers;
  assert.equal(c[0].image, 'nginx:2');
  assert.equal(changed.metadata.managedFields?.[0].time, '2025-01-01T00:01:00Z');

  // Drop env and the label from the manifest: both are pruned since nobody else owns them.
  const pruned = serverSideApply({ live: changed, applied: manifest({ image: 'nginx:2', labels: {} }), manager: 'kubectl', force: false, meta, now: t2 });
  const pc = (pruned.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec.containers;
  assert.deepStrictEqual(pc, [{ name: 'c', image: 'nginx:2' }]);
  assert.equal(pruned.metadata.labels?.app, undefined);
  assert.deepStrictEqual(pruned.status, { replicas: 1 }, 'status is untouched');
  assert.equal(pruned.metadata.uid, 'u-1');
  const fields = JSON.stringify(pruned.metadata.managedFields);
  assert.ok(!fields.includes('f:env') && !fields.includes('f:app'), fields);
});

test('conflict with an Update manager; force takes ownership', () => {
  const created = persisted(
    updateManagedFields({ old: undefined, updated: manifest(), manager: 'kubectl-client-side-apply', operation: 'Update', now: t0, meta }),
  );
  assert.equal(created.metadata.managedFields?.[0].operation, 'Update');
  assert.equal(created.metadata.managedFields?.[0].apiVersion, 'apps/v1');

  let caught: unknown;
  try {
    serverSideApply({ live: created, applied: manifest({ image: 'nginx:9' }), manager: 'kubectl', force: false, meta, now: t1 });
  } catch (e) {
    caught = e;
  }
  assert.ok(isConflict(caught));
  assert.equal(
    caught.message,
    'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.template.spec.containers[name="c"].image',
  );
  assert.deepStrictEqual(caught.details.causes, [
    {
      field: '.spec.template.spec.containers[name="c"].image',
      reason: 'FieldManagerConflict',
      message: 'conflict with "kubectl-client-side-apply" using apps/v1',
    },
  ]);

  // Same values: shared ownership, no conflict.
  const shared = serverSideApply({ live: created, applied: manifest(), manager: 'kubectl', force: false, meta, now: t1 });
  assert.equal(shared.metadata.managedFields?.length, 2);

  const forced = serverSideApply({ live: created, applied: manifest({ image: 'nginx:9' }), manager: 'kubectl', force: true, meta, now: t1 });
  const csa = forced.metadata.managedFields?.find((e: ManagedFieldsEntry) => e.manager === 'kubectl-client-side-apply');
  assert.ok(csa);
  assert.ok(!JSON.stringify(csa.fieldsV1).includes('f:image'), 'forced field leaves the old owner');
  assert.ok(JSON.stringify(csa.fieldsV1).includes('f:app'), 'other fields stay with the old owner');
});

test('several conflicts are grouped by manager like upstream', () => {
  const created = persisted(
    updateManagedFields({ old: undefined, updated: manifest({ replicas: 1 }), manager: 'editor', operation: 'Update', now: t0, meta }),
  );
  assert.throws(
    () => serverSideApply({ live: created, applied: manifest({ replicas: 3, image: 'x' }), manager: 'kubectl', force: false, meta, now: t1 }),
    (e: unknown) =>
      isConflict(e) &&
      e.message ===
        'Apply failed with 2 conflicts: conflicts with "editor" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name="c"].image' &&
      e.details.causes?.length === 2,
  );
});

test('a field removed from the manifest stays when another manager also owns it', () => {
  const applied = persisted(serverSideApply({ live: undefined, applied: manifest({ labels: { app: 'web', tier: 'fe' } }), manager: 'kubectl', force: false, meta, now: t0 }));
  // Another writer sets tier to the same value (an Update that changes nothing there) and adds one.
  const edited = structuredClone(applied);
  edited.metadata.labels = { app: 'web', tier: 'fe', team: 'x' };
  const afterEdit = updateManagedFields({ old: applied, updated: edited, manager: 'kubectl-label', operation: 'Update', now: t1, meta });
  const labelEntry = afterEdit.metadata.managedFields?.find((e: ManagedFieldsEntry) => e.manager === 'kubectl-label');
  assert.deepStrictEqual(labelEntry?.fieldsV1, { 'f:metadata': { 'f:labels': { 'f:team': {} } } });

  const reapplied = serverSideApply({ live: afterEdit, applied: manifest({ labels: { app: 'web' } }), manager: 'kubectl', force: false, meta, now: t2 });
  assert.deepStrictEqual(reapplied.metadata.labels, { app: 'web', team: 'x' }, 'tier pruned, team (not ours) kept');
});

test('Update takes changed fields from the applier, and the next apply conflicts', () => {
  const applied = persisted(serverSideApply({ live: undefined, applied: manifest({ replicas: 2 }), manager: 'kubectl', force: false, meta, now: t0 }));
  const scaled = structuredClone(applied);
  (scaled.spec as { replicas: number }).replicas = 5;
  const afterScale = updateManagedFields({ old: applied, updated: scaled, manager: 'kubectl-scale', operation: 'Update', now: t1, meta });
  const mine = afterScale.metadata.managedFields?.find((e: ManagedFieldsEntry) => e.manager === 'kubectl');
  assert.ok(!JSON.stringify(mine?.fieldsV1).includes('f:replicas'));
  assert.throws(
    () => serverSideApply({ live: afterScale, applied: manifest({ replicas: 2 }), manager: 'kubectl', force: false, meta, now: t2 }),
    (e: unknown) => isConflict(e) && e.message.includes('"kubectl-scale" using apps/v1: .spec.replicas'),
  );
  // Leaving replicas out of the manifest is how users hand the field over: no conflict, value kept.
  const handedOver = serverSideApply({ live: afterScale, applied: manifest(), manager: 'kubectl', force: false, meta, now: t2 });
  assert.equal((handedOver.spec as { replicas: number }).replicas, 5);
});

test('objects without managedFields belong to before-first-apply', () => {
  const legacy = persisted(manifest());
  assert.throws(
    () => serverSideApply({ live: legacy, applied: manifest({ image: 'nginx:2' }), manager: 'kubectl', force: false, meta, now: t1 }),
    (e: unknown) => isConflict(e) && e.message.includes('"before-first-apply" using apps/v1'),
  );
});

test('list-map keys missing from the manifest are matched against the defaulted live item', () => {
  const withPort = manifest();
  const containers = (withPort.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec.containers;
  containers[0].ports = [{ containerPort: 80 }];
  const first = serverSideApply({ live: undefined, applied: withPort, manager: 'kubectl', force: false, meta, now: t0 });
  // The apiserver defaults protocol after apply.
  const live = persisted(first);
  const lc = (live.spec as { template: { spec: { containers: { ports: Record<string, unknown>[] }[] } } }).template.spec.containers;
  lc[0].ports[0].protocol = 'TCP';
  const again = serverSideApply({ live, applied: withPort, manager: 'kubectl', force: false, meta, now: t1 });
  const ports = (again.spec as { template: { spec: { containers: { ports: unknown[] }[] } } }).template.spec.containers[0].ports;
  assert.deepStrictEqual(ports, [{ containerPort: 80, protocol: 'TCP' }]);
  assert.ok(JSON.stringify(again.metadata.managedFields).includes('k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}'));
});

test('ignored fields and request validation', () => {
  const out = serverSideApply({ live: undefined, applied: manifest(), manager: 'kubectl', force: false, meta, now: t0 });
  const fieldsV1 = out.metadata.managedFields?.[0].fieldsV1 as Record<string, Record<string, unknown>>;
  assert.deepStrictEqual(Object.keys(fieldsV1).sort(), ['f:metadata', 'f:spec'], 'apiVersion/kind are not tracked');
  assert.deepStrictEqual(Object.keys(fieldsV1['f:metadata']), ['f:labels'], 'metadata.name/namespace are not tracked');
  const bad = manifest();
  bad.metadata.managedFields = [{ manager: 'x', operation: 'Apply' }];
  assert.throws(
    () => serverSideApply({ live: undefined, applied: bad, manager: 'kubectl', force: false, meta, now: t0 }),
    (e: unknown) => isHedgeError(e, 'BadRequest') && e.message === 'metadata.managedFields must be nil',
  );
});

test('updateManagedFields honours request managedFields: [] keeps, [{}] clears', () => {
  const created = persisted(updateManagedFields({ old: undefined, updated: manifest(), manager: 'a', operation: 'Update', now: t0, meta }));
  const keep = structuredClone(created);
  keep.metadata.managedFields = [];
  const kept = updateManagedFields({ old: created, updated: keep, manager: 'b', operation: 'Update', now: t1, meta });
  assert.deepStrictEqual(kept.metadata.managedFields, created.metadata.managedFields, 'no change: entries kept, b owns nothing');
  const clear = structuredClone(created);
  clear.metadata.managedFields = [{}];
  assert.equal(updateManagedFields({ old: created, updated: clear, manager: 'b', operation: 'Update', now: t1, meta }).metadata.managedFields, undefined);
});

test('compareValues (fields equal on both sides skipped) agrees with comparing every leaf', () => {
  /** the reference: every leaf of both sides, compared */
  const reference = (a: Json, b: Json): Record<string, string[]> => {
    const la = leaves(a, meta);
    const lb = leaves(b, meta);
    return {
      modified: [...lb].filter(([k, fp]) => la.has(k) && la.get(k) !== fp).map(([k]) => k).sort(),
      added: [...lb.keys()].filter((k) => !la.has(k)).sort(),
      removed: [...la.keys()].filter((k) => !lb.has(k)).sort(),
    };
  };
  const keys = (s: FieldSet): string[] => s.paths().map((p) => JSON.stringify(p)).sort();
  const base = {
    metadata: { name: 'web', labels: { app: 'web' }, annotations: {}, finalizers: ['a', 'b'] },
    spec: {
      replicas: 1,
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'c', image: 'i:1', args: ['x'], ports: [{ containerPort: 80, protocol: 'TCP' }], env: [{ name: 'A', value: '1' }] }] },
      },
    },
    status: { replicas: 1 },
  } as Json;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test edits of a loose JSON fixture
  const variants: ((o: any) => void)[] = [
    (o) => (o.spec.replicas = 2),
    (o) => (o.metadata.labels.tier = 'x'),
    (o) => delete o.metadata.labels,
    (o) => (o.metadata.annotations = { a: '1' }),
    (o) => (o.metadata.labels = {}),
    (o) => (o.spec.template.spec.containers[0].image = 'i:2'),
    (o) => (o.spec.template.spec.containers[0].args = ['y']),
    (o) => o.spec.template.spec.containers.push({ name: 'd', image: 'j' }),
    (o) => (o.spec.template.spec.containers[0].ports = []),
    (o) => o.metadata.finalizers.push('c'),
    (o) => (o.status = {}),
    (o) => (o.metadata = { labels: { app: 'web' }, finalizers: ['a', 'b'], annotations: {}, name: 'web' }),
    () => undefined,
  ];
  for (const [i, change] of variants.entries()) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
    const b = structuredClone(base) as any;
    change(b);
    for (const [x, y] of [[base, b], [b, base]] as [Json, Json][]) {
      const got = compareValues(x, y, meta);
      const want = reference(x, y);
      assert.deepStrictEqual({ modified: keys(got.modified), added: keys(got.added), removed: keys(got.removed) }, want, `variant ${i}`);
      // skipped fields: the same sets less what lies below them
      const skipped = compareValues(x, y, meta, { status: true, metadata: { name: true, labels: true } });
      const kept = (ks: string[]): string[] => ks.filter((k) => !/^\["f:status"|^\["f:metadata","f:(name|labels)"/.test(k));
      assert.deepStrictEqual(
        { modified: keys(skipped.modified), added: keys(skipped.added), removed: keys(skipped.removed) },
        { modified: kept(want.modified), added: kept(want.added), removed: kept(want.removed) },
        `variant ${i}, skipping`,
      );
      assert.deepStrictEqual(
        [got.modified, got.added, got.removed].map((set) => set.toFieldsV1()),
        [got.modified, got.added, got.removed].map((set) => FieldSet.of(set.paths()).toFieldsV1()),
        `variant ${i}: FieldsV1 of the kept paths`,
      );
    }
  }
});
