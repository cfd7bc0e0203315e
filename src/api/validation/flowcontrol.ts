import type { FieldCause } from '../../lib/errors.ts';
import { validatePathSegmentName } from '../meta/name.ts';
import { forbidden, index, invalid, notSupported, required } from '../meta/field-errors.ts';
import { isPlainObject, type KubeObject } from '../object.ts';

/**
 * flowcontrol.apiserver.k8s.io/v1 (API Priority and Fairness): upstream's v1 defaulting
 * (pkg/apis/flowcontrol/v1/defaults.go) and validation (pkg/apis/flowcontrol/validation), plus
 * the JSON type checks Go's decoder makes.
 */

export const FLOWCONTROL_GROUP = 'flowcontrol.apiserver.k8s.io';
export const DISTINGUISHER_METHODS = ['ByNamespace', 'ByUser'] as const;
export const SUBJECT_KINDS = ['Group', 'ServiceAccount', 'User'] as const;
export const PRIORITY_LEVEL_TYPES = ['Exempt', 'Limited'] as const;
export const LIMIT_RESPONSE_TYPES = ['Queue', 'Reject'] as const;
/** upstream's v1 defaults */
export const DEFAULT_MATCHING_PRECEDENCE = 1000;
export const DEFAULT_NOMINAL_CONCURRENCY_SHARES = 30;
export const DEFAULT_QUEUING = { queues: 64, handSize: 8, queueLengthLimit: 50 } as const;
/** upstream's bound on shuffle sharding's hash: handSize * log2(queues) bits */
const MAX_HASH_BITS = 60;

const obj = (v: unknown): Record<string, unknown> | undefined => (isPlainObject(v) ? v : undefined);

/** upstream SetDefaults_FlowSchemaSpec */
export function defaultFlowSchema(fs: KubeObject): void {
  const spec = obj((fs as { spec?: unknown }).spec);
  if (spec && spec.matchingPrecedence === undefined) spec.matchingPrecedence = DEFAULT_MATCHING_PRECEDENCE;
}

/** upstream SetDefaults_{Limited,Exempt}PriorityLevelConfiguration and SetDefaults_QueuingConfiguration */
export function defaultPriorityLevelConfiguration(pl: KubeObject): void {
  const spec = obj((pl as { spec?: unknown }).spec);
  if (!spec) return;
  const limited = obj(spec.limited);
  if (limited) {
    limited.nominalConcurrencyShares ??= DEFAULT_NOMINAL_CONCURRENCY_SHARES;
    limited.lendablePercent ??= 0;
    const lr = obj(limited.limitResponse);
    const q = lr ? obj(lr.queuing) : undefined;
    if (q) {
      q.queues ??= DEFAULT_QUEUING.queues;
      q.handSize ??= DEFAULT_QUEUING.handSize;
      q.queueLengthLimit ??= DEFAULT_QUEUING.queueLengthLimit;
    }
  }
  const exempt = obj(spec.exempt);
  if (exempt) {
    exempt.nominalConcurrencyShares ??= 0;
    exempt.lendablePercent ??= 0;
  }
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31;

function stringList(v: unknown, path: string, causes: FieldCause[]): string[] | undefined {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
    causes.push(invalid(path, v, 'must be a list of strings'));
    return undefined;
  }
  return v;
}

/** `*` alone or a list without it (upstream hasWildcard checks) */
function wildcardAlone(list: string[], path: string, what: string, causes: FieldCause[]): void {
  if (list.length > 1 && list.includes('*')) causes.push(invalid(path, list, `if '*' is present, must not specify other ${what}`));
}

function validateSubject(s: unknown, path: string): FieldCause[] {
  const subject = obj(s);
  if (!subject) return [required(path)];
  const causes: FieldCause[] = [];
  const kind = subject.kind;
  if (!SUBJECT_KINDS.includes(kind as (typeof SUBJECT_KINDS)[number])) {
    causes.push(kind === undefined || kind === '' ? required(`${path}.kind`) : notSupported(`${path}.kind`, kind, SUBJECT_KINDS));
    return causes;
  }
  const nameOf = (field: 'user' | 'group' | 'serviceAccount'): Record<string, unknown> | undefined => {
    const o = obj(subject[field]);
    if (!o) causes.push(required(`${path}.${field}`, `${field} is required when subject kind is '${String(kind)}'`));
    else if (typeof o.name !== 'string' || o.name === '') causes.push(required(`${path}.${field}.name`));
    return o;
  };
  const others = (['user', 'group', 'serviceAccount'] as const).filter((f) => f !== (kind === 'User' ? 'user' : kind === 'Group' ? 'group' : 'serviceAccount'));
  for (const f of others) if (subject[f] !== undefined && subject[f] !== null) causes.push(forbidden(`${path}.${f}`, `${f} is forbidden when subject kind is not '${f === 'serviceAccount' ? 'ServiceAccount' : f === 'user' ? 'User' : 'Group'}'`));
  if (kind === 'User') nameOf('user');
  else if (kind === 'Group') nameOf('group');
  else {
    const sa = nameOf('serviceAccount');
    if (sa && (typeof sa.namespace !== 'string' || sa.namespace === '')) causes.push(required(`${path}.serviceAccount.namespace`));
  }
  return causes;
}

function validateResourceRule(r: unknown, path: string): FieldCause[] {
  const rule = obj(r);
  if (!rule) return [required(path)];
  const causes: FieldCause[] = [];
  const verbs = stringList(rule.verbs, `${path}.verbs`, causes);
  const groups = stringList(rule.apiGroups, `${path}.apiGroups`, causes);
  const resources = stringList(rule.resources, `${path}.resources`, causes);
  const namespaces = stringList(rule.namespaces, `${path}.namespaces`, causes);
  if (verbs?.length === 0) causes.push(required(`${path}.verbs`, 'verbs must contain at least one value'));
  if (verbs) wildcardAlone(verbs, `${path}.verbs`, 'verbs', causes);
  if (groups?.length === 0) causes.push(required(`${path}.apiGroups`, 'resource rules must supply at least one api group'));
  if (groups) wildcardAlone(groups, `${path}.apiGroups`, 'api groups', causes);
  if (resources?.length === 0) causes.push(required(`${path}.resources`, 'resource rules must supply at least one resource'));
  if (resources) wildcardAlone(resources, `${path}.resources`, 'resources', causes);
  if (rule.clusterScope !== undefined && typeof rule.clusterScope !== 'boolean') causes.push(invalid(`${path}.clusterScope`, rule.clusterScope, 'must be a boolean'));
  if (namespaces) {
    if (namespaces.length === 0 && rule.clusterScope !== true) causes.push(required(`${path}.namespaces`, 'resource rules that are not cluster scoped must supply at least one namespace'));
    wildcardAlone(namespaces, `${path}.namespaces`, 'namespaces', causes);
    namespaces.forEach((ns, i) => {
      if (ns !== '*' && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns)) causes.push(invalid(index(`${path}.namespaces`, i), ns, "must be '*' or a namespace name"));
    });
  }
  return causes;
}

function validateNonResourceRule(r: unknown, path: string): FieldCause[] {
  const rule = obj(r);
  if (!rule) return [required(path)];
  const causes: FieldCause[] = [];
  const verbs = stringList(rule.verbs, `${path}.verbs`, causes);
  const urls = stringList(rule.nonResourceURLs, `${path}.nonResourceURLs`, causes);
  if (verbs?.length === 0) causes.push(required(`${path}.verbs`, 'verbs must contain at least one value'));
  if (verbs) wildcardAlone(verbs, `${path}.verbs`, 'verbs', causes);
  if (urls?.length === 0) causes.push(required(`${path}.nonResourceURLs`, 'nonResourceURLs must contain at least one value'));
  if (urls) {
    wildcardAlone(urls, `${path}.nonResourceURLs`, 'nonResourceURLs', causes);
    urls.forEach((u, i) => {
      if (u === '*' || u === '/') return;
      if (!u.startsWith('/')) causes.push(invalid(index(`${path}.nonResourceURLs`, i), u, 'must start with slash'));
      else if (u.includes('*') && !(u.endsWith('/*') && !u.slice(0, -1).includes('*'))) causes.push(invalid(index(`${path}.nonResourceURLs`, i), u, 'wildcard can only be used as a trailing "/*" suffix'));
    });
  }
  return causes;
}

/** upstream ValidateFlowSchema (spec part) */
export function validateFlowSchema(fs: KubeObject): FieldCause[] {
  const causes: FieldCause[] = [];
  const spec = obj((fs as { spec?: unknown }).spec);
  if (!spec) return [required('spec')];
  const mp = spec.matchingPrecedence;
  if (!isInt(mp) || mp <= 0 || mp > 10000) causes.push(invalid('spec.matchingPrecedence', mp, 'must be between 1 and 10000, inclusive'));
  const name = fs.metadata.name ?? '';
  if (name === 'exempt' && mp !== 1) causes.push(invalid('spec.matchingPrecedence', mp, "only the schema named 'exempt' may have matchingPrecedence 1"));
  else if (name !== 'exempt' && mp === 1) causes.push(invalid('spec.matchingPrecedence', mp, "only the schema named 'exempt' may have matchingPrecedence 1"));
  const dm = spec.distinguisherMethod;
  if (dm !== undefined && dm !== null) {
    const t = obj(dm)?.type;
    if (!DISTINGUISHER_METHODS.includes(t as (typeof DISTINGUISHER_METHODS)[number])) causes.push(notSupported('spec.distinguisherMethod.type', t ?? '', DISTINGUISHER_METHODS));
  }
  const plRef = obj(spec.priorityLevelConfiguration);
  const plName = plRef?.name;
  if (typeof plName !== 'string' || plName === '') causes.push(required('spec.priorityLevelConfiguration.name', 'must reference a priority level'));
  else for (const msg of validatePathSegmentName(plName, false)) causes.push(invalid('spec.priorityLevelConfiguration.name', plName, msg));
  const rules = spec.rules;
  if (rules !== undefined && rules !== null && !Array.isArray(rules)) causes.push(invalid('spec.rules', rules, 'must be a list'));
  else
    (rules ?? []).forEach((r: unknown, i: number) => {
      const path = index('spec.rules', i);
      const rule = obj(r);
      if (!rule) {
        causes.push(required(path));
        return;
      }
      const subjects = Array.isArray(rule.subjects) ? rule.subjects : [];
      if (subjects.length === 0) causes.push(required(`${path}.subjects`, 'subjects must contain at least one value'));
      subjects.forEach((s: unknown, j: number) => causes.push(...validateSubject(s, index(`${path}.subjects`, j))));
      const rr = Array.isArray(rule.resourceRules) ? rule.resourceRules : [];
      const nr = Array.isArray(rule.nonResourceRules) ? rule.nonResourceRules : [];
      if (rr.length === 0 && nr.length === 0) causes.push(required(path, 'at least one of resourceRules and nonResourceRules has to be non-empty'));
      rr.forEach((x: unknown, j: number) => causes.push(...validateResourceRule(x, index(`${path}.resourceRules`, j))));
      nr.forEach((x: unknown, j: number) => causes.push(...validateNonResourceRule(x, index(`${path}.nonResourceRules`, j))));
    });
  return causes;
}

function validateQueuing(q: unknown, path: string): FieldCause[] {
  const queuing = obj(q);
  if (!queuing) return [required(path, 'must not be empty if limitResponse.type is Queue')];
  const causes: FieldCause[] = [];
  const { queues, handSize, queueLengthLimit } = queuing;
  if (!isInt(queueLengthLimit) || queueLengthLimit <= 0) causes.push(invalid(`${path}.queueLengthLimit`, queueLengthLimit, 'must be positive'));
  if (!isInt(queues) || queues <= 0) causes.push(invalid(`${path}.queues`, queues, 'must be positive'));
  if (!isInt(handSize) || handSize <= 0) causes.push(invalid(`${path}.handSize`, handSize, 'must be positive'));
  else if (isInt(queues) && queues > 0) {
    if (handSize > queues) causes.push(invalid(`${path}.handSize`, handSize, `should not be greater than queues (${queues})`));
    else if (Math.ceil(Math.log2(queues) * handSize) > MAX_HASH_BITS) {
      causes.push(invalid(`${path}.handSize`, handSize, `required entropy bits of deckSize ${queues} and handSize ${handSize} should not be greater than ${MAX_HASH_BITS}`));
    }
  }
  return causes;
}

function percent(v: unknown, path: string, causes: FieldCause[], max?: number): void {
  if (v === undefined || v === null) return;
  if (!isInt(v) || v < 0 || (max !== undefined && v > max)) causes.push(invalid(path, v, max !== undefined ? `must be between 0 and ${max}, inclusive` : 'if specified, must be a non-negative integer'));
}

/** upstream ValidatePriorityLevelConfiguration (spec part) */
export function validatePriorityLevelConfiguration(pl: KubeObject): FieldCause[] {
  const causes: FieldCause[] = [];
  const spec = obj((pl as { spec?: unknown }).spec);
  if (!spec) return [required('spec')];
  const name = pl.metadata.name ?? '';
  const type = spec.type;
  if (!PRIORITY_LEVEL_TYPES.includes(type as (typeof PRIORITY_LEVEL_TYPES)[number])) {
    causes.push(type === undefined || type === '' ? required('spec.type') : notSupported('spec.type', type, PRIORITY_LEVEL_TYPES));
    return causes;
  }
  if ((name === 'exempt') !== (type === 'Exempt')) causes.push(invalid('spec.type', type, "type must be 'Exempt' if and only if name is 'exempt'"));
  if (type === 'Exempt') {
    if (spec.limited !== undefined && spec.limited !== null) causes.push(forbidden('spec.limited', 'must be nil if the type is not Limited'));
    const ex = obj(spec.exempt);
    if (ex) {
      if (ex.nominalConcurrencyShares !== undefined && (!isInt(ex.nominalConcurrencyShares) || ex.nominalConcurrencyShares < 0)) {
        causes.push(invalid('spec.exempt.nominalConcurrencyShares', ex.nominalConcurrencyShares, 'must be a non-negative integer'));
      }
      percent(ex.lendablePercent, 'spec.exempt.lendablePercent', causes, 100);
    }
    return causes;
  }
  if (spec.exempt !== undefined && spec.exempt !== null) causes.push(forbidden('spec.exempt', 'must be nil if the type is Limited'));
  const limited = obj(spec.limited);
  if (!limited) {
    causes.push(required('spec.limited', 'must not be empty when type is Limited'));
    return causes;
  }
  const ncs = limited.nominalConcurrencyShares;
  if (!isInt(ncs) || ncs < 0) causes.push(invalid('spec.limited.nominalConcurrencyShares', ncs, 'must be a non-negative integer'));
  percent(limited.lendablePercent, 'spec.limited.lendablePercent', causes, 100);
  percent(limited.borrowingLimitPercent, 'spec.limited.borrowingLimitPercent', causes);
  const lr = obj(limited.limitResponse);
  const lrType = lr?.type;
  if (!LIMIT_RESPONSE_TYPES.includes(lrType as (typeof LIMIT_RESPONSE_TYPES)[number])) {
    causes.push(lrType === undefined || lrType === '' ? required('spec.limited.limitResponse.type') : notSupported('spec.limited.limitResponse.type', lrType, LIMIT_RESPONSE_TYPES));
  } else if (lrType === 'Queue') {
    causes.push(...validateQueuing(lr?.queuing, 'spec.limited.limitResponse.queuing'));
  } else if (lr?.queuing !== undefined && lr.queuing !== null) {
    causes.push(forbidden('spec.limited.limitResponse.queuing', 'must be nil if limited.limitResponse.type is not Limited'));
  }
  return causes;
}
