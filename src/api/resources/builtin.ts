import { eventFields, namespaceFields, nodeFields, podFields, secretFields } from '../fields/field-maps.ts';
import type { ResourceDef, Verb } from './types.ts';

/** Verbs every ordinary upstream resource serves. */
const ALL_VERBS: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
/** Namespaces are the one kind upstream does not allow deletecollection on. */
const NAMESPACE_VERBS: Verb[] = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

type Base = Omit<ResourceDef, 'listKind' | 'verbs' | 'subresources' | 'hasStatus' | 'shortNames' | 'categories'> &
  Partial<Pick<ResourceDef, 'verbs' | 'subresources' | 'hasStatus' | 'shortNames' | 'categories'>>;

function def(b: Base): ResourceDef {
  return {
    listKind: `${b.kind}List`,
    subresources: [],
    hasStatus: false,
    shortNames: [],
    categories: [],
    ...b,
    verbs: [...(b.verbs ?? ALL_VERBS)],
  };
}

/**
 * The resource types hedge serves, with names, scope, verbs and subresources as upstream
 * kube-apiserver v1.30+ reports them in discovery. Each call returns fresh objects so callers
 * may adjust them (e.g. tests) without affecting others.
 */
export function builtinResources(): ResourceDef[] {
  return [
    def({
      group: '',
      version: 'v1',
      kind: 'Namespace',
      plural: 'namespaces',
      singular: 'namespace',
      shortNames: ['ns'],
      namespaced: false,
      verbs: NAMESPACE_VERBS,
      subresources: ['status', 'finalize'],
      hasStatus: true,
      fieldSelectors: namespaceFields,
    }),
    def({
      group: '',
      version: 'v1',
      kind: 'Node',
      plural: 'nodes',
      singular: 'node',
      shortNames: ['no'],
      namespaced: false,
      subresources: ['status'],
      hasStatus: true,
      fieldSelectors: nodeFields,
    }),
    def({
      group: '',
      version: 'v1',
      kind: 'Pod',
      plural: 'pods',
      singular: 'pod',
      shortNames: ['po'],
      categories: ['all'],
      namespaced: true,
      subresources: ['status', 'binding', 'log', 'exec', 'eviction'],
      hasStatus: true,
      fieldSelectors: podFields,
    }),
    def({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', singular: 'configmap', shortNames: ['cm'], namespaced: true }),
    def({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', singular: 'secret', namespaced: true, fieldSelectors: secretFields }),
    def({
      group: '',
      version: 'v1',
      kind: 'Service',
      plural: 'services',
      singular: 'service',
      shortNames: ['svc'],
      categories: ['all'],
      namespaced: true,
      subresources: ['status'],
      hasStatus: true,
    }),
    def({
      group: '',
      version: 'v1',
      kind: 'ServiceAccount',
      plural: 'serviceaccounts',
      singular: 'serviceaccount',
      shortNames: ['sa'],
      namespaced: true,
    }),
    def({ group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', singular: 'endpoints', shortNames: ['ep'], namespaced: true }),
    def({ group: '', version: 'v1', kind: 'Event', plural: 'events', singular: 'event', shortNames: ['ev'], namespaced: true, fieldSelectors: eventFields }),
    def({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', singular: 'lease', namespaced: true }),
    def({
      group: 'node.k8s.io',
      version: 'v1',
      kind: 'RuntimeClass',
      plural: 'runtimeclasses',
      singular: 'runtimeclass',
      namespaced: false,
    }),
  ];
}
