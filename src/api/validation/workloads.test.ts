import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../object.ts';
import { builtinResources } from '../builtin/index.ts';
import { ResourceRegistry } from '../resources/registry.ts';

const reg = new ResourceRegistry(builtinResources());
const def = (group: string, plural: string): NonNullable<ReturnType<ResourceRegistry['lookup']>> => {
  const d = reg.lookup(group, 'v1', plural);
  assert.ok(d, plural);
  return d;
};
const template = (labels: Record<string, string>, restartPolicy?: string): Record<string, unknown> => ({
  metadata: { labels },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...(restartPolicy ? { restartPolicy } : {}) },
});
const fields = (d: ReturnType<typeof def>, obj: KubeObject, old?: KubeObject): string[] => {
  d.defaults?.(obj);
  return d.validate!(obj, old).map((c) => `${c.field}: ${c.message}`);
};

test('deployment defaults match kube-apiserver', () => {
  const d: KubeObject = { metadata: { name: 'web', namespace: 'd' }, spec: { selector: { matchLabels: { app: 'web' } }, template: template({ app: 'web' }) } };
  def('apps', 'deployments').defaults!(d);
  const spec = d.spec as Record<string, unknown>;
  assert.equal(spec.replicas, 1);
  assert.deepEqual(spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
  assert.equal(spec.revisionHistoryLimit, 10);
  assert.equal(spec.progressDeadlineSeconds, 600);
  assert.equal((spec.template as { spec: { restartPolicy: string } }).spec.restartPolicy, 'Always');
  assert.deepEqual(def('apps', 'deployments').validate!(d), []);
});

test('deployment validation: selector, template labels, replicas, strategy, immutable selector', () => {
  const deployments = def('apps', 'deployments');
  assert.deepEqual(fields(deployments, { metadata: { name: 'a', namespace: 'd' }, spec: { template: template({ app: 'a' }) } }), ['spec.selector: Required value']);
  assert.deepEqual(
    fields(deployments, { metadata: { name: 'a', namespace: 'd' }, spec: { selector: { matchLabels: { app: 'a' } }, template: template({ app: 'b' }) } }),
    ['spec.template.metadata.labels: Invalid value: {"app":"b"}: `selector` does not match template `labels`'],
  );
  assert.deepEqual(
    fields(deployments, { metadata: { name: 'a', namespace: 'd' }, spec: { replicas: -1, selector: { matchLabels: { app: 'a' } }, template: template({ app: 'a' }) } }),
    ['spec.replicas: Invalid value: -1: must be greater than or equal to 0'],
  );
  const zero = fields(deployments, {
    metadata: { name: 'a', namespace: 'd' },
    spec: { selector: { matchLabels: { app: 'a' } }, template: template({ app: 'a' }), strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: '0%' } } },
  });
  assert.deepEqual(zero, ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0']);
  assert.deepEqual(
    fields(deployments, { metadata: { name: 'a', namespace: 'd' }, spec: { selector: { matchLabels: { app: 'a' } }, template: template({ app: 'a' }, 'Never') } }),
    ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'],
  );
  const old: KubeObject = { metadata: { name: 'a', namespace: 'd' }, spec: { selector: { matchLabels: { app: 'a' } }, template: template({ app: 'a', v: '1' }) } };
  deployments.defaults!(old);
  const next = structuredClone(old);
  (next.spec as { selector: unknown }).selector = { matchLabels: { v: '1' } };
  assert.ok(fields(deployments, next, old).some((f) => f.startsWith('spec.selector: Invalid value') && f.endsWith('field is immutable')));
});

test('job defaults, restart policy and immutable template', () => {
  const jobs = def('batch', 'jobs');
  const job: KubeObject = { metadata: { name: 'j', namespace: 'd', uid: 'u1' }, spec: { selector: { matchLabels: { x: 'y' } }, template: template({ x: 'y' }, 'Never') } };
  jobs.defaults!(job);
  const spec = job.spec as Record<string, unknown>;
  assert.equal(spec.completions, 1);
  assert.equal(spec.parallelism, 1);
  assert.equal(spec.backoffLimit, 6);
  assert.equal(spec.completionMode, 'NonIndexed');
  assert.deepEqual(jobs.validate!(job), []);
  const always: KubeObject = { metadata: { name: 'j', namespace: 'd' }, spec: { selector: { matchLabels: { x: 'y' } }, template: template({ x: 'y' }, 'Always') } };
  assert.deepEqual(fields(jobs, always), ['spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"']);
  const next = structuredClone(job);
  (next.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0].image = 'other';
  assert.ok(jobs.validate!(next, job).some((c) => c.field === 'spec.template'));
  const parallel: KubeObject = { metadata: { name: 'p', namespace: 'd' }, spec: { parallelism: 3, selector: { matchLabels: { x: 'y' } }, template: template({ x: 'y' }, 'Never') } };
  jobs.defaults!(parallel);
  assert.equal((parallel.spec as { completions?: number }).completions, undefined);
});

test('cronjob schedule and defaults', () => {
  const cronjobs = def('batch', 'cronjobs');
  const cj = (schedule: string): KubeObject => ({ metadata: { name: 'c', namespace: 'd' }, spec: { schedule, jobTemplate: { spec: { template: template({}, 'OnFailure') } } } });
  const ok = cj('*/5 * * * *');
  assert.deepEqual(fields(cronjobs, ok), []);
  assert.equal((ok.spec as { successfulJobsHistoryLimit: number }).successfulJobsHistoryLimit, 3);
  assert.deepEqual(fields(cronjobs, cj('61 * * * *')), ['spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61']);
  assert.deepEqual(fields(cronjobs, cj('@often')), ['spec.schedule: Invalid value: "@often": unrecognized descriptor: @often']);
});

test('daemonset, statefulset, pdb, endpointslice', () => {
  const ds: KubeObject = { metadata: { name: 'd', namespace: 'd' }, spec: { selector: { matchLabels: { a: 'b' } }, template: template({ a: 'b' }) } };
  assert.deepEqual(fields(def('apps', 'daemonsets'), ds), []);
  assert.deepEqual((ds.spec as { updateStrategy: unknown }).updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
  const sts: KubeObject = { metadata: { name: 's', namespace: 'd' }, spec: { serviceName: 's', selector: { matchLabels: { a: 'b' } }, template: template({ a: 'b' }) } };
  const sd = def('apps', 'statefulsets');
  assert.deepEqual(fields(sd, sts), []);
  const changed = structuredClone(sts);
  (changed.spec as { serviceName: string }).serviceName = 'other';
  assert.deepEqual(sd.validate!(changed, sts).map((c) => c.field), ['spec']);
  assert.deepEqual(fields(def('policy', 'poddisruptionbudgets'), { metadata: { name: 'p', namespace: 'd' }, spec: { minAvailable: 1, maxUnavailable: 1 } }).length, 1);
  assert.deepEqual(fields(def('discovery.k8s.io', 'endpointslices'), { metadata: { name: 'e', namespace: 'd' }, addressType: 'IPv5' } as KubeObject), [
    'addressType: Unsupported value: "IPv5": supported values: "IPv4", "IPv6", "FQDN"',
  ]);
});

test('statefulset: mounts may name volumeClaimTemplates (the controller adds those volumes); a mount naming neither is refused; claim template names are required and unique', () => {
  const sd = def('apps', 'statefulsets');
  const sts = (mount: string, claims: { metadata?: { name?: string } }[]): KubeObject => ({
    metadata: { name: 's', namespace: 'd' },
    spec: {
      serviceName: 's',
      selector: { matchLabels: { a: 'b' } },
      template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'busybox', volumeMounts: [{ name: mount, mountPath: '/data' }] }] } },
      volumeClaimTemplates: claims.map((c) => ({ ...c, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } })),
    },
  });
  assert.deepEqual(fields(sd, sts('data', [{ metadata: { name: 'data' } }])), []);
  assert.deepEqual(fields(sd, sts('other', [{ metadata: { name: 'data' } }])), ['spec.template.spec.containers[0].volumeMounts[0].name: Not found: "other"']);
  assert.deepEqual(fields(sd, sts('data', [{ metadata: { name: 'data' } }, { metadata: { name: 'data' } }, {}])), [
    'spec.volumeClaimTemplates[1].metadata.name: Duplicate value: "data"',
    'spec.volumeClaimTemplates[2].metadata.name: Required value',
  ]);
});
