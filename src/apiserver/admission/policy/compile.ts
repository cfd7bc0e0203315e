import { compileAdmissionExpression, type CelProgram } from '../../../api/cel/index.ts';
import type { Selector } from '../../../api/labels/index.ts';
import { isPlainObject, type KubeObject } from '../../../api/object.ts';
import type {
  AuditAnnotation,
  MatchResources,
  NamedRule,
  ParamRef,
  PolicyValidation,
  ValidatingAdmissionPolicyBindingSpec,
  ValidatingAdmissionPolicySpec,
} from '../../../api/validation/admission-policy.ts';
import type { CompiledMatchCondition } from '../cel-activation.ts';
import { parseWebhookSelector } from '../webhook/matching.ts';

/** matchConstraints / matchResources with the selectors parsed */
export interface CompiledMatch {
  resourceRules: NamedRule[];
  excludeResourceRules: NamedRule[];
  namespaceSelector: Selector;
  objectSelector: Selector;
  matchPolicy: string;
}

export interface CompiledValidation {
  validation: PolicyValidation;
  program: CelProgram;
  message?: CelProgram;
}

/** One ValidatingAdmissionPolicy at one generation, every expression compiled. */
export interface CompiledPolicy {
  name: string;
  generation: number;
  failurePolicy: 'Fail' | 'Ignore';
  paramKind?: { apiVersion: string; kind: string };
  match: CompiledMatch;
  matchConditions: CompiledMatchCondition[];
  variables: { name: string; program: CelProgram }[];
  validations: CompiledValidation[];
  auditAnnotations: { key: string; program: CelProgram }[];
  /** a stored policy that does not compile (validation refuses such; only old data): failurePolicy applies */
  error?: string;
}

export interface CompiledBinding {
  name: string;
  policyName: string;
  paramRef?: ParamRef;
  /** absent: the binding narrows nothing */
  match?: CompiledMatch;
  validationActions: string[];
  error?: string;
}

const rulesOf = (v: unknown): NamedRule[] => (Array.isArray(v) ? v.filter(isPlainObject).map((r) => r as NamedRule) : []);

function compileMatch(m: MatchResources | undefined): CompiledMatch {
  return {
    resourceRules: rulesOf(m?.resourceRules),
    excludeResourceRules: rulesOf(m?.excludeResourceRules),
    namespaceSelector: parseWebhookSelector(m?.namespaceSelector),
    objectSelector: parseWebhookSelector(m?.objectSelector),
    matchPolicy: m?.matchPolicy ?? 'Equivalent',
  };
}

class PolicyCompileError extends Error {}

function program(source: unknown, want: 'bool' | 'string' | 'any', variables: string[], what: string): CelProgram {
  const r = compileAdmissionExpression(typeof source === 'string' ? source.trim() : '', want, { policy: true, variables });
  if (!r.ok) throw new PolicyCompileError(`${what}: ${r.message || 'expression is not specified'}`);
  return r.program;
}

/** Compiles a stored policy (once per generation: the caller keys its cache by it). */
export function compilePolicy(obj: KubeObject): CompiledPolicy {
  const spec = ((obj as { spec?: unknown }).spec ?? {}) as ValidatingAdmissionPolicySpec;
  const base: CompiledPolicy = {
    name: obj.metadata.name ?? '',
    generation: obj.metadata.generation ?? 0,
    failurePolicy: spec.failurePolicy === 'Ignore' ? 'Ignore' : 'Fail',
    paramKind: isPlainObject(spec.paramKind) ? spec.paramKind : undefined,
    match: compileMatch(undefined),
    matchConditions: [],
    variables: [],
    validations: [],
    auditAnnotations: [],
  };
  try {
    base.match = compileMatch(spec.matchConstraints);
    const declared: string[] = [];
    for (const v of Array.isArray(spec.variables) ? spec.variables : []) {
      base.variables.push({ name: v.name, program: program(v.expression, 'any', [...declared], `variables "${v.name}"`) });
      declared.push(v.name);
    }
    for (const c of Array.isArray(spec.matchConditions) ? spec.matchConditions : []) {
      base.matchConditions.push({ name: c.name, program: program(c.expression, 'bool', declared, `matchCondition "${c.name}"`) });
    }
    (Array.isArray(spec.validations) ? spec.validations : []).forEach((v, i) => {
      const c: CompiledValidation = { validation: v, program: program(v.expression, 'bool', declared, `validations[${i}].expression`) };
      if (typeof v.messageExpression === 'string' && v.messageExpression.trim() !== '') c.message = program(v.messageExpression, 'string', declared, `validations[${i}].messageExpression`);
      base.validations.push(c);
    });
    for (const a of (Array.isArray(spec.auditAnnotations) ? spec.auditAnnotations : []) as AuditAnnotation[]) {
      base.auditAnnotations.push({ key: a.key, program: program(a.valueExpression, 'any', declared, `auditAnnotations "${a.key}"`) });
    }
  } catch (err) {
    // a selector that does not parse or an expression that does not compile
    base.error = (err as Error).message;
  }
  return base;
}

export function compileBinding(obj: KubeObject): CompiledBinding {
  const spec = ((obj as { spec?: unknown }).spec ?? {}) as ValidatingAdmissionPolicyBindingSpec;
  const b: CompiledBinding = {
    name: obj.metadata.name ?? '',
    policyName: typeof spec.policyName === 'string' ? spec.policyName : '',
    paramRef: isPlainObject(spec.paramRef) ? spec.paramRef : undefined,
    validationActions: Array.isArray(spec.validationActions) ? spec.validationActions : [],
  };
  try {
    if (isPlainObject(spec.matchResources)) b.match = compileMatch(spec.matchResources);
  } catch (err) {
    b.error = (err as Error).message;
  }
  return b;
}
