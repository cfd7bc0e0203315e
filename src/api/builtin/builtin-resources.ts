import { eventFields, namespaceFields, nodeFields, podFields, secretFields } from '../fields/field-maps.ts';
import { defaultEndpoints, defaultNamespace, defaultNode, defaultPod, defaultSecret, defaultService } from '../defaults/index.ts';
import { nameIsDNS1035Label, nameIsDNSLabel, nameIsDNSSubdomain, type NameValidator } from '../meta/name.ts';
import {
  objectValidator,
  validateConfigMap,
  validateEndpoints,
  validateEvent,
  validateLease,
  validateNamespace,
  validateNode,
  validatePod,
  validatePodUpdate,
  validateRuntimeClass,
  validateSecret,
  validateService,
  validateServiceAccount,
  type SpecValidator,
} from '../validation/index.ts';
import {
  configMapTable,
  endpointsTable,
  eventTable,
  leaseTable,
  namespaceTable,
  nodeTable,
  podTable,
  runtimeClassTable,
  secretTable,
  serviceAccountTable,
  serviceTable,
} from '../table/index.ts';
import type { ResourceDef, Verb } from '../resources/types.ts';
import { rbacResources } from './rbac.ts';

/** Verbs every ordinary upstream resource serves. */
const ALL_VERBS: Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
/** Namespaces are the one kind upstream does not allow deletecollection on. */
const NAMESPACE_VERBS: Verb[] = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

type Base = Omit<ResourceDef, 'listKind' | 'verbs' | 'subresources' | 'hasStatus' | 'shortNames' | 'categories' | 'validate'> &
  Partial<Pick<ResourceDef, 'verbs' | 'subresources' | 'hasStatus' | 'shortNames' | 'categories'>> & {
    /** name rule for metadata.name (default DNS-1123 subdomain, as for most kinds) */
    nameFn?: NameValidator;
    spec?: SpecValidator;
    update?: SpecValidator;
  };

function def(b: Base): ResourceDef {
  const { nameFn, spec, update, ...rest } = b;
  return {
    listKind: `${b.kind}List`,
    subresources: [],
    hasStatus: false,
    shortNames: [],
    categories: [],
    ...rest,
    verbs: [...(b.verbs ?? ALL_VERBS)],
    validate: objectValidator({ namespaced: b.namespaced, nameFn: nameFn ?? nameIsDNSSubdomain, spec, update }),
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
      kind: 'Namespace', table: namespaceTable,
      plural: 'namespaces',
      singular: 'namespace',
      shortNames: ['ns'],
      namespaced: false,
      verbs: NAMESPACE_VERBS,
      subresources: ['status', 'finalize'],
      hasStatus: true,
      fieldSelectors: namespaceFields,
      nameFn: nameIsDNSLabel,
      defaults: defaultNamespace,
      spec: validateNamespace,
    }),
    def({
      group: '',
      version: 'v1',
      kind: 'Node', table: nodeTable,
      plural: 'nodes',
      singular: 'node',
      shortNames: ['no'],
      namespaced: false,
      subresources: ['status'],
      hasStatus: true,
      fieldSelectors: nodeFields,
      defaults: defaultNode,
      spec: validateNode,
    }),
    def({
      group: '',
      version: 'v1',
      kind: 'Pod', table: podTable,
      plural: 'pods',
      singular: 'pod',
      shortNames: ['po'],
      categories: ['all'],
      namespaced: true,
      subresources: ['status', 'binding', 'log', 'exec', 'eviction'],
      hasStatus: true,
      fieldSelectors: podFields,
      defaults: defaultPod,
      spec: validatePod,
      update: (obj, old) => validatePodUpdate(obj, old!),
    }),
    def({ group: '', version: 'v1', kind: 'ConfigMap', table: configMapTable, plural: 'configmaps', singular: 'configmap', shortNames: ['cm'], namespaced: true, spec: validateConfigMap }),
    def({ group: '', version: 'v1', kind: 'Secret', table: secretTable, plural: 'secrets', singular: 'secret', namespaced: true, fieldSelectors: secretFields, defaults: defaultSecret, spec: validateSecret }),
    def({
      group: '',
      version: 'v1',
      kind: 'Service', table: serviceTable,
      plural: 'services',
      singular: 'service',
      shortNames: ['svc'],
      categories: ['all'],
      namespaced: true,
      subresources: ['status'],
      hasStatus: true,
      nameFn: nameIsDNS1035Label,
      defaults: defaultService,
      spec: validateService,
    }),
    def({
      group: '',
      version: 'v1',
      kind: 'ServiceAccount', table: serviceAccountTable,
      plural: 'serviceaccounts',
      singular: 'serviceaccount',
      shortNames: ['sa'],
      namespaced: true,
      spec: validateServiceAccount,
    }),
    def({ group: '', version: 'v1', kind: 'Endpoints', table: endpointsTable, plural: 'endpoints', singular: 'endpoints', shortNames: ['ep'], namespaced: true, defaults: defaultEndpoints, spec: validateEndpoints }),
    def({ group: '', version: 'v1', kind: 'Event', table: eventTable, plural: 'events', singular: 'event', shortNames: ['ev'], namespaced: true, fieldSelectors: eventFields, spec: validateEvent }),
    def({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', table: leaseTable, plural: 'leases', singular: 'lease', namespaced: true, spec: validateLease }),
    def({
      group: 'node.k8s.io',
      version: 'v1',
      kind: 'RuntimeClass', table: runtimeClassTable,
      plural: 'runtimeclasses',
      singular: 'runtimeclass',
      namespaced: false,
      spec: validateRuntimeClass,
    }),
    ...rbacResources(),
  ];
}
