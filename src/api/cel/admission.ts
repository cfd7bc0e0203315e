import type { ASTNode } from '@marcbachmann/cel-js';
import { CelEnvironment, type CelProgram, type CelVariables } from './environment.ts';
import { isPlainObject } from '../object.ts';

/**
 * CEL in admission (k8s.io/apiserver/pkg/admission/plugin/cel): webhook matchConditions and
 * ValidatingAdmissionPolicy expressions. They see `object`, `oldObject` (null when there is none),
 * `request` (the AdmissionRequest's fields), and, for policies, `params`, `namespaceObject` and
 * `variables.<name>`. `authorizer` is declared so that an expression using it compiles and can be
 * refused by name: hedge does not back it (see `usesAuthorizer`).
 */
export interface AdmissionCelOptions {
  /** `params` and `namespaceObject` (policies) */
  policy?: boolean;
  /** names of the composited variables declared before this expression (policies) */
  variables?: readonly string[];
}

/** upstream celconfig.PerCallLimit; the per-request budgets below are RuntimeCELCostBudget(MatchConditions) */
export const ADMISSION_PER_CALL_LIMIT = 1_000_000;
export const ADMISSION_REQUEST_BUDGET = 10_000_000;
export const ADMISSION_TIMEOUT_MS = 1_000;

let shared: CelEnvironment | undefined;
/**
 * The process's CEL environment, built on first use (the libraries' overload tables are the
 * expensive part) and immutable after: CRD rules and admission share it.
 */
export function sharedCelEnvironment(): CelEnvironment {
  shared ??= new CelEnvironment();
  return shared;
}

export function admissionVariables(opts: AdmissionCelOptions = {}): CelVariables {
  const vars: CelVariables = { object: 'dyn', oldObject: 'dyn', request: 'map', authorizer: 'dyn' };
  if (opts.policy) {
    vars.params = 'dyn';
    vars.namespaceObject = 'dyn';
    vars.variables = 'map';
  }
  return vars;
}

export type AdmissionCompileResult = { ok: true; program: CelProgram } | { ok: false; required?: boolean; message: string };

/**
 * Compile one admission expression (upstream's CompileCELExpression): `compilation failed: ...`
 * when it does not parse or check, `must evaluate to <type>` when its type is not the one asked
 * for, and a refusal for `authorizer` and for `variables.x` naming no variable declared before it.
 */
export function compileAdmissionExpression(source: unknown, want: 'bool' | 'string' | 'any', opts: AdmissionCelOptions = {}): AdmissionCompileResult {
  if (typeof source !== 'string' || source.trim() === '') return { ok: false, required: true, message: '' };
  // before type checking: the checker would only say that dyn has no method check()
  if (scan(source).ids.has('authorizer')) return { ok: false, message: 'compilation failed: the authorizer variable is not supported by this server' };
  const c = sharedCelEnvironment().compile(source, admissionVariables(opts));
  if (!c.ok) return { ok: false, message: `compilation failed: ${c.message}` };
  const p = c.program;
  if (want !== 'any' && p.type !== want && p.type !== 'dyn') return { ok: false, message: `must evaluate to ${want}` };
  if (p.references.has('variables')) {
    const declared = new Set(opts.variables ?? []);
    const unknown = variableNames(source).find((n) => !declared.has(n));
    if (unknown !== undefined) return { ok: false, message: `compilation failed: ERROR: <input>: undefined field '${unknown}'` };
  }
  return { ok: true, program: p };
}

/** names read as `variables.x` (or `variables['x']`) in `source` */
export function variableNames(source: string): string[] {
  return [...scan(source).variables];
}

/** identifiers and `variables.x` names of an expression (empty when it does not parse) */
function scan(source: string): { ids: Set<string>; variables: Set<string> } {
  const ids = new Set<string>();
  const out = new Set<string>();
  let ast: ASTNode;
  try {
    ast = sharedCelEnvironment().parseOnly(source, admissionVariables({ policy: true }));
  } catch {
    return { ids, variables: out };
  }
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) {
      n.forEach(walk);
      return;
    }
    if (!isPlainObject(n) || !('op' in n)) return;
    const node = n as unknown as ASTNode;
    const args = node.args as unknown;
    if (node.op === 'id' && typeof args === 'string') ids.add(args);
    if ((node.op === '.' || node.op === '.?' || node.op === '[]' || node.op === '[?]') && Array.isArray(args)) {
      const [target, field] = args as [ASTNode, unknown];
      if (isPlainObject(target) && target.op === 'id' && target.args === 'variables') {
        const name = typeof field === 'string' ? field : isPlainObject(field) && field.op === 'value' ? field.args : undefined;
        if (typeof name === 'string') out.add(name);
      }
    }
    if (node.op !== 'value') walk(args);
  };
  walk(ast);
  return { ids, variables: out };
}

/** JSON as CEL sees it without a schema: integers are ints (bigint), other numbers doubles. */
export function jsonToCel(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(jsonToCel);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = jsonToCel(x);
    return out;
  }
  return v;
}
