import type { KubeObject } from '../../api/object.ts';
import { FLOWCONTROL_GROUP } from '../../api/validation/flowcontrol.ts';

/**
 * upstream's bootstrap configuration (k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap/default.go,
 * v1.29+: nominalConcurrencyShares and lendablePercent). The mandatory objects are always kept as
 * they are here; the suggested ones only while they carry `apf.kubernetes.io/autoupdate-spec: "true"`
 * (config-producer.ts).
 */

export const AUTO_UPDATE_ANNOTATION = 'apf.kubernetes.io/autoupdate-spec';
const API_VERSION = `${FLOWCONTROL_GROUP}/v1`;

export interface Subject {
  kind: 'User' | 'Group' | 'ServiceAccount';
  user?: { name: string };
  group?: { name: string };
  serviceAccount?: { namespace: string; name: string };
}
export interface ResourcePolicyRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  namespaces?: string[];
  clusterScope?: boolean;
}
export interface NonResourcePolicyRule {
  verbs: string[];
  nonResourceURLs: string[];
}
export interface PolicyRulesWithSubjects {
  subjects: Subject[];
  resourceRules?: ResourcePolicyRule[];
  nonResourceRules?: NonResourcePolicyRule[];
}
export interface FlowSchemaSpec {
  priorityLevelConfiguration: { name: string };
  matchingPrecedence: number;
  distinguisherMethod?: { type: 'ByUser' | 'ByNamespace' };
  rules?: PolicyRulesWithSubjects[];
}
export interface QueuingConfiguration {
  queues: number;
  handSize: number;
  queueLengthLimit: number;
}
export interface PriorityLevelSpec {
  type: 'Exempt' | 'Limited';
  limited?: {
    nominalConcurrencyShares?: number;
    lendablePercent?: number;
    borrowingLimitPercent?: number;
    limitResponse: { type: 'Queue' | 'Reject'; queuing?: QueuingConfiguration };
  };
  exempt?: { nominalConcurrencyShares?: number; lendablePercent?: number };
}
export interface FlowSchemaCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}
export type FlowSchema = KubeObject & { spec: FlowSchemaSpec; status?: { conditions?: FlowSchemaCondition[] } };
export type PriorityLevelConfiguration = KubeObject & { spec: PriorityLevelSpec; status?: { conditions?: unknown[] } };

const allResources: ResourcePolicyRule = { verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true };
const allNonResources: NonResourcePolicyRule = { verbs: ['*'], nonResourceURLs: ['*'] };
const groups = (...names: string[]): Subject[] => names.map((name) => ({ kind: 'Group', group: { name } }));
const users = (...names: string[]): Subject[] => names.map((name) => ({ kind: 'User', user: { name } }));
const kubeSystemSAs = (...names: string[]): Subject[] => names.map((name) => ({ kind: 'ServiceAccount', serviceAccount: { namespace: 'kube-system', name } }));

function pl(name: string, spec: PriorityLevelSpec): PriorityLevelConfiguration {
  return { apiVersion: API_VERSION, kind: 'PriorityLevelConfiguration', metadata: { name }, spec };
}
function queued(shares: number, lendablePercent: number, queues: number, handSize: number, queueLengthLimit: number): PriorityLevelSpec {
  return { type: 'Limited', limited: { nominalConcurrencyShares: shares, lendablePercent, limitResponse: { type: 'Queue', queuing: { queues, handSize, queueLengthLimit } } } };
}
function fs(name: string, plName: string, matchingPrecedence: number, dm: 'ByUser' | 'ByNamespace' | undefined, ...rules: PolicyRulesWithSubjects[]): FlowSchema {
  const spec: FlowSchemaSpec = { priorityLevelConfiguration: { name: plName }, matchingPrecedence, ...(dm ? { distinguisherMethod: { type: dm } } : {}), rules };
  return { apiVersion: API_VERSION, kind: 'FlowSchema', metadata: { name }, spec };
}
const everything = (subjects: Subject[]): PolicyRulesWithSubjects => ({ subjects, resourceRules: [allResources], nonResourceRules: [allNonResources] });
const leaseRule: ResourcePolicyRule = { verbs: ['get', 'create', 'update'], apiGroups: ['coordination.k8s.io'], resources: ['leases'], namespaces: ['*'] };

export const MANDATORY_PRIORITY_LEVELS: readonly PriorityLevelConfiguration[] = [
  pl('exempt', { type: 'Exempt', exempt: { nominalConcurrencyShares: 0, lendablePercent: 0 } }),
  pl('catch-all', { type: 'Limited', limited: { nominalConcurrencyShares: 5, lendablePercent: 0, limitResponse: { type: 'Reject' } } }),
];

export const MANDATORY_FLOW_SCHEMAS: readonly FlowSchema[] = [
  fs('exempt', 'exempt', 1, undefined, everything(groups('system:masters'))),
  fs('catch-all', 'catch-all', 10000, 'ByUser', everything(groups('system:unauthenticated', 'system:authenticated'))),
];

export const SUGGESTED_PRIORITY_LEVELS: readonly PriorityLevelConfiguration[] = [
  pl('system', queued(30, 33, 64, 6, 50)),
  pl('node-high', queued(40, 25, 64, 6, 50)),
  pl('leader-election', queued(10, 0, 16, 4, 50)),
  pl('workload-high', queued(40, 50, 128, 6, 50)),
  pl('workload-low', queued(100, 90, 128, 6, 50)),
  pl('global-default', queued(20, 50, 128, 6, 50)),
];

export const SUGGESTED_FLOW_SCHEMAS: readonly FlowSchema[] = [
  fs('system-nodes', 'system', 500, 'ByUser', everything(groups('system:nodes'))),
  fs('system-node-high', 'node-high', 400, 'ByUser', {
    subjects: groups('system:nodes'),
    resourceRules: [
      { verbs: ['*'], apiGroups: [''], resources: ['nodes', 'nodes/status'], namespaces: ['*'], clusterScope: true },
      { verbs: ['*'], apiGroups: ['coordination.k8s.io'], resources: ['leases'], namespaces: ['*'] },
    ],
  }),
  fs('probes', 'exempt', 2, undefined, { subjects: groups('system:unauthenticated', 'system:authenticated'), nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/healthz', '/readyz', '/livez'] }] }),
  fs('system-leader-election', 'leader-election', 100, 'ByUser', { subjects: [...users('system:kube-controller-manager', 'system:kube-scheduler'), ...kubeSystemSAs('*')], resourceRules: [leaseRule] }),
  fs('endpoint-controller', 'workload-high', 150, 'ByUser', {
    subjects: [...users('system:kube-controller-manager'), ...kubeSystemSAs('endpoint-controller', 'endpointslicemirroring-controller')],
    resourceRules: [{ verbs: ['get', 'create', 'update'], apiGroups: [''], resources: ['endpoints'], namespaces: ['*'] }],
  }),
  fs('workload-leader-election', 'leader-election', 200, 'ByUser', {
    subjects: kubeSystemSAs('*'),
    resourceRules: [{ verbs: ['get', 'create', 'update'], apiGroups: [''], resources: ['endpoints', 'configmaps'], namespaces: ['*'] }, leaseRule],
  }),
  fs('kube-controller-manager', 'workload-high', 800, 'ByNamespace', everything(users('system:kube-controller-manager'))),
  fs('kube-scheduler', 'workload-high', 800, 'ByNamespace', everything(users('system:kube-scheduler'))),
  fs('kube-system-service-accounts', 'workload-high', 900, 'ByNamespace', everything(kubeSystemSAs('*'))),
  fs('service-accounts', 'workload-low', 9000, 'ByUser', everything(groups('system:serviceaccounts'))),
  fs('global-default', 'global-default', 9900, 'ByUser', everything(groups('system:unauthenticated', 'system:authenticated'))),
];
