import type { ResourceDef, TableDef } from '../resources/types.ts';
import { ageColumn, column, nameColumn } from '../table/columns.ts';
import { since } from '../table/duration.ts';
import type { SpecValidator } from '../validation/for-resource.ts';
import { builtinDef } from './builtin-def.ts';
import {
  defaultFlowSchema,
  defaultPriorityLevelConfiguration,
  FLOWCONTROL_GROUP,
  validateFlowSchema,
  validatePriorityLevelConfiguration,
} from '../validation/flowcontrol.ts';
import { isPlainObject, type KubeObject } from '../object.ts';

const rec = (v: unknown): Record<string, unknown> => (isPlainObject(v) ? v : {});
const specOf = (o: KubeObject): Record<string, unknown> => rec((o as { spec?: unknown }).spec);

/** upstream's printer (pkg/printers/internalversion): NAME PRIORITYLEVEL MATCHINGPRECEDENCE DISTINGUISHERMETHOD AGE MISSINGPL */
const flowSchemaTable: TableDef = {
  columns: [
    nameColumn(),
    column('PriorityLevel', 'priorityLevelConfiguration is a reference to a PriorityLevelConfiguration object that this FlowSchema maps to'),
    column('MatchingPrecedence', 'matchingPrecedence is used to choose among the FlowSchemas that match a given request', { type: 'string' }),
    column('DistinguisherMethod', 'distinguisherMethod defines how to compute the flow distinguisher for requests that match this schema'),
    ageColumn(),
    column('MissingPL', 'indicates if the priority level referenced by this FlowSchema is missing'),
  ],
  row: (obj, now) => {
    const s = specOf(obj);
    const dm = isPlainObject(s.distinguisherMethod) && typeof s.distinguisherMethod.type === 'string' ? s.distinguisherMethod.type : '<none>';
    const conds = rec((obj as { status?: unknown }).status).conditions;
    const dangling = Array.isArray(conds) ? conds.map(rec).find((c) => c.type === 'Dangling') : undefined;
    const missing = dangling && typeof dangling.status === 'string' ? dangling.status : '?';
    return [obj.metadata.name ?? '', String(rec(s.priorityLevelConfiguration).name ?? ''), String(s.matchingPrecedence ?? ''), dm, since(obj.metadata.creationTimestamp, now), missing];
  },
};

/** upstream's printer: NAME TYPE NOMINALCONCURRENCYSHARES QUEUES HANDSIZE QUEUELENGTHLIMIT AGE */
const priorityLevelTable: TableDef = {
  columns: [
    nameColumn(),
    column('Type', 'type indicates whether this priority level is subject to limitation on request execution'),
    column('NominalConcurrencyShares', 'nominalConcurrencyShares defines the nominal number of seats of this priority level', { type: 'string' }),
    column('Queues', 'queues is the number of queues for this priority level', { type: 'string' }),
    column('HandSize', 'handSize is the number of queues a request is dealt to', { type: 'string' }),
    column('QueueLengthLimit', 'queueLengthLimit is the maximum number of requests allowed to be waiting in a given queue', { type: 'string' }),
    ageColumn(),
  ],
  row: (obj, now) => {
    const s = specOf(obj);
    const none = '<none>';
    const limited = isPlainObject(s.limited) ? s.limited : undefined;
    const q = limited ? rec(rec(limited.limitResponse).queuing) : {};
    const queued = limited && rec(limited.limitResponse).type === 'Queue';
    return [
      obj.metadata.name ?? '',
      String(s.type ?? ''),
      limited ? String(limited.nominalConcurrencyShares ?? 0) : none,
      queued ? String(q.queues ?? '') : none,
      queued ? String(q.handSize ?? '') : none,
      queued ? String(q.queueLengthLimit ?? '') : none,
      since(obj.metadata.creationTimestamp, now),
    ];
  },
};

const flowcontrolDef = (kind: string, plural: string, defaults: (obj: KubeObject) => void, spec: SpecValidator, table: TableDef): ResourceDef =>
  builtinDef({ group: FLOWCONTROL_GROUP, version: 'v1', kind, plural, namespaced: false, subresources: ['status'], hasStatus: true, table, defaults, spec });

/** `flowcontrol.apiserver.k8s.io/v1`: API Priority and Fairness' FlowSchemas and PriorityLevelConfigurations (cluster-scoped, with status) */
export function flowcontrolResources(): ResourceDef[] {
  return [
    flowcontrolDef('FlowSchema', 'flowschemas', defaultFlowSchema, validateFlowSchema, flowSchemaTable),
    flowcontrolDef('PriorityLevelConfiguration', 'prioritylevelconfigurations', defaultPriorityLevelConfiguration, validatePriorityLevelConfiguration, priorityLevelTable),
  ];
}
