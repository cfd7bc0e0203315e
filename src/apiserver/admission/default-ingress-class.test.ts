import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtinResources } from '../../api/builtin/builtin-resources.ts';
import type { KubeObject } from '../../api/object.ts';
import { ResourceRegistry } from '../../api/resources/registry.ts';
import { defaultIngressClassPlugin } from './default-ingress-class.ts';
import type { AdmissionRequest } from './types.ts';

const reg = new ResourceRegistry(builtinResources());
const ingDef = reg.lookup('networking.k8s.io', 'v1', 'ingresses');
const netpolDef = reg.lookup('networking.k8s.io', 'v1', 'networkpolicies');

const cls = (name: string, created: string, isDefault: string | undefined): KubeObject => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'IngressClass',
  metadata: { name, creationTimestamp: created, ...(isDefault === undefined ? {} : { annotations: { 'ingressclass.kubernetes.io/is-default-class': isDefault } }) },
  spec: { controller: 'k8s.io/ingress-nginx' },
});
const ing = (spec: Record<string, unknown> = {}, annotations?: Record<string, string>): KubeObject => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'web', namespace: 'shop', ...(annotations ? { annotations } : {}) },
  spec: { defaultBackend: { service: { name: 'web', port: { number: 80 } } }, ...spec },
});
const req = (object: KubeObject, over: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  operation: 'CREATE',
  def: ingDef!,
  subresource: '',
  namespace: 'shop',
  name: 'web',
  object,
  user: { username: 'alice', groups: [] },
  dryRun: false,
  signal: new AbortController().signal,
  ...over,
});
const className = (o: KubeObject): unknown => (o.spec as { ingressClassName?: string }).ingressClassName;

test('DefaultIngressClass: the newest default wins (then the smallest name); "True" or other values are not defaults', async () => {
  const classes = [
    cls('old', '2026-01-01T00:00:00Z', 'true'),
    cls('new-b', '2026-01-02T00:00:00Z', 'true'),
    cls('new-a', '2026-01-02T00:00:00Z', 'true'),
    cls('newest-but-not-default', '2026-01-03T00:00:00Z', 'True'),
    cls('plain', '2026-01-04T00:00:00Z', undefined),
  ];
  const plugin = defaultIngressClassPlugin({ listIngressClasses: async () => classes });
  const o = ing();
  await plugin.mutate?.(req(o));
  assert.equal(className(o), 'new-a');
});

test('DefaultIngressClass leaves alone: a named class, the deprecated annotation, updates, subresources, other kinds, no default', async () => {
  let lists = 0;
  const plugin = defaultIngressClassPlugin({
    listIngressClasses: async () => {
      lists++;
      return [cls('nginx', '2026-01-01T00:00:00Z', 'true')];
    },
  });
  const named = ing({ ingressClassName: 'traefik' });
  await plugin.mutate?.(req(named));
  assert.equal(className(named), 'traefik');
  const annotated = ing({}, { 'kubernetes.io/ingress.class': 'traefik' });
  await plugin.mutate?.(req(annotated));
  assert.equal(className(annotated), undefined);
  for (const over of [{ operation: 'UPDATE' as const }, { subresource: 'status' }, { def: netpolDef! }]) {
    const o = ing();
    await plugin.mutate?.(req(o, over));
    assert.equal(className(o), undefined);
  }
  assert.equal(lists, 0, 'classes are read only for an Ingress create that needs one');
  const none = defaultIngressClassPlugin({ listIngressClasses: async () => [cls('plain', '2026-01-01T00:00:00Z', undefined)] });
  const o = ing();
  await none.mutate?.(req(o));
  assert.equal(className(o), undefined);
});
