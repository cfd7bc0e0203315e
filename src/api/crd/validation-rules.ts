import { celJs } from '../cel/cel-js.ts';
import type { CauseType, FieldCause } from '../../lib/errors.ts';
import { CelBudget, CelEvalError, sharedCelEnvironment, type CelEnvironment, type CelProgram, type CelVariables } from '../cel/index.ts';
import { child, formatBadValue, index, invalid, key, notSupported, required } from '../meta/field-errors.ts';
import { isPlainObject } from '../object.ts';
import type { JSONSchemaProps } from './schema.ts';

/**
 * `x-kubernetes-validations`: CEL rules on CRD schema nodes, as upstream's
 * apiextensions-apiserver/pkg/apiserver/schema/cel does them. Rules are compiled once per CRD
 * generation (`compileRuleTree`, when its ResourceDefs are built) and evaluated on every create and
 * update of a custom resource at each node that carries rules: `self` is that node's value,
 * `oldSelf` the correlated old value on update.
 */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
  fieldPath?: string;
  optionalOldSelf?: boolean;
}

const REASONS = ['FieldValueDuplicate', 'FieldValueForbidden', 'FieldValueInvalid', 'FieldValueRequired'] as const;
type Reason = (typeof REASONS)[number];

/** upstream's celconfig: PerCallLimit and RuntimeCELCostBudget, in our metered units */
export const PER_CALL_LIMIT = 1_000_000;
export const PER_OBJECT_BUDGET = 10_000_000;
/** wall clock for all rules of one object; upstream has none, our budget is coarser than its cost model */
export const PER_OBJECT_TIMEOUT_MS = 1_000;
const MAX_MESSAGE_EXPRESSION_BYTES = 5 * 1024;

interface CompiledRule {
  rule: ValidationRule;
  program?: CelProgram;
  compileError?: string;
  message?: CelProgram;
  usesOldSelf: boolean;
  optionalOldSelf: boolean;
  /** the normalized fieldPath ('' when none) */
  fieldPath: string;
  reason: Reason;
}

/** The schema nodes that carry rules, and the way down to them; absent subtrees have none. */
export interface RuleTree {
  schema: JSONSchemaProps;
  rules: CompiledRule[];
  properties: Map<string, RuleTree>;
  items?: RuleTree;
  additionalProperties?: RuleTree;
  /** the resource root or an embedded resource: self gets apiVersion, kind, metadata.name/generateName only */
  resource: boolean;
}

/** shared by CRD validation, every served CRD and admission (sharedCelEnvironment) */
const celEnv = (): CelEnvironment => sharedCelEnvironment();

const RULE_VARS: CelVariables = { self: 'dyn', oldSelf: 'dyn' };
const OPTIONAL_OLD_VARS: CelVariables = { self: 'dyn', oldSelf: 'optional<dyn>' };

// ----------------------------------------------------------------------------- compile

/**
 * Compile the rules of `schema` (the openAPIV3Schema at `path`). Returns the tree of nodes that
 * carry rules (undefined when none does) and the field errors of rules that do not compile, at
 * `<path>...x-kubernetes-validations[j].rule` as upstream reports them.
 */
export function compileRuleTree(schema: JSONSchemaProps, path: string): { tree?: RuleTree; errors: FieldCause[] } {
  const errors: FieldCause[] = [];
  const tree = compileNode(schema, path, errors, { resource: true, uncorrelatable: '' });
  return { tree, errors };
}

function compileNode(s: JSONSchemaProps, path: string, errors: FieldCause[], at: { resource: boolean; uncorrelatable: string }): RuleTree | undefined {
  if (!isPlainObject(s)) return undefined;
  const rules = compileRules(s, path, errors, at.uncorrelatable);
  const properties = new Map<string, RuleTree>();
  if (isPlainObject(s.properties)) {
    for (const [name, p] of Object.entries(s.properties)) {
      const sub = compileNode(p, child(path, `properties[${name}]`), errors, { resource: p['x-kubernetes-embedded-resource'] === true, uncorrelatable: at.uncorrelatable });
      if (sub) properties.set(name, sub);
    }
  }
  let items: RuleTree | undefined;
  if (isPlainObject(s.items)) {
    const p = child(path, 'items');
    const correlatable = s['x-kubernetes-list-type'] === 'map';
    items = compileNode(s.items, p, errors, { resource: s.items['x-kubernetes-embedded-resource'] === true, uncorrelatable: at.uncorrelatable || (correlatable ? '' : path) });
  }
  let additionalProperties: RuleTree | undefined;
  if (isPlainObject(s.additionalProperties)) {
    const ap = s.additionalProperties as JSONSchemaProps;
    const correlatable = s['x-kubernetes-map-type'] !== 'atomic';
    additionalProperties = compileNode(ap, child(path, 'additionalProperties'), errors, { resource: ap['x-kubernetes-embedded-resource'] === true, uncorrelatable: at.uncorrelatable || (correlatable ? '' : path) });
  }
  if (rules.length === 0 && properties.size === 0 && !items && !additionalProperties) return undefined;
  return { schema: s, rules, properties, items, additionalProperties, resource: at.resource };
}

function compileRules(s: JSONSchemaProps, path: string, errors: FieldCause[], uncorrelatable: string): CompiledRule[] {
  const raw = s['x-kubernetes-validations'];
  if (raw === undefined) return [];
  const listPath = child(path, 'x-kubernetes-validations');
  if (!Array.isArray(raw)) {
    errors.push(invalid(listPath, raw, 'must be a list'));
    return [];
  }
  const out: CompiledRule[] = [];
  raw.forEach((r: unknown, i: number) => {
    const p = index(listPath, i);
    if (!isPlainObject(r)) {
      errors.push(invalid(p, r, 'must be an object'));
      return;
    }
    const rule = r as unknown as ValidationRule;
    if (typeof rule.rule !== 'string' || rule.rule.trim() === '') {
      errors.push(required(child(p, 'rule'), 'rule is not specified'));
      return;
    }
    const compiled: CompiledRule = { rule, usesOldSelf: false, optionalOldSelf: rule.optionalOldSelf === true, fieldPath: '', reason: 'FieldValueInvalid' };
    const c = celEnv().compile(rule.rule, compiled.optionalOldSelf ? OPTIONAL_OLD_VARS : RULE_VARS);
    if (!c.ok) {
      compiled.compileError = `compilation failed: ${c.message}`;
      errors.push(invalid(child(p, 'rule'), rule, compiled.compileError));
    } else if (c.program.type !== 'bool' && c.program.type !== 'dyn') {
      compiled.compileError = 'cel expression must evaluate to a bool';
      errors.push(invalid(child(p, 'rule'), rule, compiled.compileError));
    } else {
      compiled.program = c.program;
      compiled.usesOldSelf = c.program.references.has('oldSelf');
      if (compiled.usesOldSelf && uncorrelatable) {
        errors.push(invalid(child(p, 'rule'), rule.rule, `oldSelf cannot be used on the uncorrelatable portion of the schema within ${uncorrelatable}`));
      }
    }
    if (compiled.optionalOldSelf && compiled.program && !compiled.usesOldSelf) {
      errors.push(invalid(child(p, 'optionalOldSelf'), true, 'may not be set if rule does not use oldSelf'));
    }
    if (rule.message !== undefined) {
      if (typeof rule.message !== 'string') errors.push(invalid(child(p, 'message'), rule.message, 'must be a string'));
      else if (/[\n\r]/.test(rule.message)) errors.push(invalid(child(p, 'message'), rule.message, 'message must not contain line breaks'));
      else if (rule.message.trim() === '') errors.push(invalid(child(p, 'message'), rule.message, 'message must be non-empty if specified'));
    }
    if (rule.messageExpression !== undefined) {
      const mp = child(p, 'messageExpression');
      if (typeof rule.messageExpression !== 'string' || rule.messageExpression.trim() === '') errors.push(required(mp, 'messageExpression must be non-empty if specified'));
      else {
        const m = celEnv().compile(rule.messageExpression, RULE_VARS);
        if (!m.ok) errors.push(invalid(mp, rule.messageExpression, `messageExpression compilation failed: ${m.message}`));
        else if (m.program.type !== 'string' && m.program.type !== 'dyn') errors.push(invalid(mp, rule.messageExpression, 'must evaluate to a string'));
        else compiled.message = m.program;
      }
    }
    if (rule.reason !== undefined) {
      if (!(REASONS as readonly unknown[]).includes(rule.reason)) errors.push(notSupported(child(p, 'reason'), rule.reason, REASONS));
      else compiled.reason = rule.reason as Reason;
    }
    if (rule.fieldPath !== undefined) {
      const fp = normalizeFieldPath(String(rule.fieldPath), s);
      if (typeof fp !== 'string') errors.push(invalid(child(p, 'fieldPath'), rule.fieldPath, `fieldPath must be a valid path: ${fp.error}`));
      else compiled.fieldPath = fp;
    }
    out.push(compiled);
  });
  return out;
}

/**
 * upstream's ValidFieldPath: `.a.b`, `['a.b']` (fields and map keys, no list indexes) checked
 * against the schema; returns the field path it names relative to the rule's node.
 */
export function normalizeFieldPath(jsonPath: string, schema: JSONSchemaProps): string | { error: string } {
  let s: JSONSchemaProps | undefined = schema;
  let out = '';
  const re = /\.([^.[\]]+)|\['((?:[^'\\]|\\.)*)'\]/y;
  let pos = 0;
  if (jsonPath === '') return { error: 'unexpected end of JSON path' };
  while (pos < jsonPath.length) {
    re.lastIndex = pos;
    const m = re.exec(jsonPath);
    if (!m) return { error: jsonPath[pos] === '[' ? 'expected single quoted string' : `expected [ or . but got: ${jsonPath.slice(pos)}` };
    pos = re.lastIndex;
    const name = m[1] ?? m[2].replace(/\\(.)/g, '$1');
    if (!s) return { error: 'does not refer to a valid field' };
    if (s.properties) {
      const next: JSONSchemaProps | undefined = Object.hasOwn(s.properties, name) ? s.properties[name] : undefined;
      if (!next) return { error: 'does not refer to a valid field' };
      out = child(out, name);
      s = next;
    } else if (isPlainObject(s.additionalProperties)) {
      out = key(out, name);
      s = s.additionalProperties as JSONSchemaProps;
    } else return { error: 'does not refer to a valid field' };
  }
  return out;
}

// ----------------------------------------------------------------------------- evaluate

class OutOfBudget extends Error {}

/**
 * Evaluate the rules of `tree` on `obj` (and `old` on update). Errors are 422 causes; an
 * evaluation error is a cause too (never a throw), and running out of budget stops the remaining
 * rules with upstream's message.
 */
export function evaluateRuleTree(tree: RuleTree, obj: unknown, old: unknown, opts: { budget?: CelBudget } = {}): FieldCause[] {
  const errs: FieldCause[] = [];
  const budget = opts.budget ?? new CelBudget({ limit: PER_OBJECT_BUDGET, timeoutMs: PER_OBJECT_TIMEOUT_MS });
  try {
    validateNode(tree, obj, old, '', errs, budget);
  } catch (e) {
    if (!(e instanceof OutOfBudget)) throw e;
  }
  return errs;
}

function validateNode(t: RuleTree, v: unknown, old: unknown, path: string, errs: FieldCause[], budget: CelBudget): void {
  // upstream validates non-null values only; rules about presence belong on the parent
  if (v === null || v === undefined) return;
  if (old === null) old = undefined;
  if (t.rules.length > 0) evaluateRules(t, v, old, path, errs, budget);
  if (Array.isArray(v)) {
    if (!t.items) return;
    const oldItems = Array.isArray(old) ? old : [];
    const keys = t.schema['x-kubernetes-list-type'] === 'map' ? t.schema['x-kubernetes-list-map-keys'] ?? [] : undefined;
    v.forEach((x, i) => {
      // only map-lists correlate items with the old ones (by their keys)
      const o = keys && isPlainObject(x) ? oldItems.find((y) => isPlainObject(y) && keys.every((k) => y[k] === x[k])) : undefined;
      validateNode(t.items as RuleTree, x, o, index(path, i), errs, budget);
    });
    return;
  }
  if (!isPlainObject(v)) return;
  const oldMap = isPlainObject(old) ? old : undefined;
  for (const [k, x] of Object.entries(v)) {
    const sub = t.properties.get(k);
    if (sub) validateNode(sub, x, oldMap?.[k], child(path, k), errs, budget);
    else if (t.additionalProperties && !t.schema.properties?.[k]) {
      const correlated = t.schema['x-kubernetes-map-type'] === 'atomic' ? undefined : oldMap?.[k];
      validateNode(t.additionalProperties, x, correlated, key(path, k), errs, budget);
    }
  }
}

function evaluateRules(t: RuleTree, v: unknown, old: unknown, path: string, errs: FieldCause[], budget: CelBudget): void {
  const type = t.schema.type ?? (t.schema['x-kubernetes-int-or-string'] ? 'integer-or-string' : '');
  const at = path || '<nil>';
  if (budget.remaining <= 0) {
    errs.push(invalid(at, type, 'validation failed due to running out of cost budget, no further validation rules will be run'));
    throw new OutOfBudget();
  }
  const self = toCel(t.schema, v, t.resource);
  const oldSelf = old === undefined ? undefined : toCel(t.schema, old, t.resource);
  const vars: Record<string, unknown> = oldSelf === undefined ? { self } : { self, oldSelf };
  for (const r of t.rules) {
    const describe = ruleErrorString(r.rule);
    if (r.compileError) {
      errs.push(invalid(at, type, `rule compile error: ${r.compileError}`));
      continue;
    }
    if (!r.program) continue;
    // transition rules only run when there is an old value to compare with, unless optionalOldSelf
    if (r.usesOldSelf && oldSelf === undefined && !r.optionalOldSelf) continue;
    const ruleVars = r.optionalOldSelf ? { self, oldSelf: oldSelf === undefined ? celJs().Optional.none() : celJs().Optional.of(oldSelf) } : vars;
    let result: unknown;
    try {
      result = r.program.evaluate(ruleVars, budget.child(PER_CALL_LIMIT));
    } catch (e) {
      if (!(e instanceof CelEvalError)) throw e;
      if (e.cost) {
        errs.push(invalid(at, type, `'${e.message}': no further validation rules will be run due to call cost exceeds limit for rule: ${describe}`));
        throw new OutOfBudget();
      }
      if (/^(no such overload|found no matching overload)/.test(e.message)) {
        errs.push(invalid(at, type, `'${e.message}': call arguments did not match a supported operator, function or macro signature for rule: ${describe}`));
      } else errs.push(invalid(at, type, `${e.message} evaluating rule: ${describe}`));
      continue;
    }
    if (result === true) continue;
    const target = r.fieldPath ? child(path, r.fieldPath) : at;
    let detail = ruleMessageOrDefault(r.rule);
    if (r.message) {
      const m = messageOf(r.message, vars, budget);
      if (m.outOfBudget) {
        errs.push(invalid(target, type, m.outOfBudget));
        throw new OutOfBudget();
      }
      if (m.text !== undefined) detail = m.text;
    }
    errs.push(fieldError(target, r.reason, v, detail));
  }
}

function messageOf(p: CelProgram, vars: Record<string, unknown>, budget: CelBudget): { text?: string; outOfBudget?: string } {
  let got: unknown;
  try {
    got = p.evaluate(vars, budget.child(PER_CALL_LIMIT));
  } catch (e) {
    if (e instanceof CelEvalError && e.cost) return { outOfBudget: `no further validation rules will be run due to call cost exceeds limit for messageExpression: ${JSON.stringify(p.source)}` };
    if (e instanceof CelEvalError) return {};
    throw e;
  }
  // upstream falls back to the rule's message when the expression's result is unusable
  if (typeof got !== 'string') return {};
  const text = got.trim();
  if (text === '' || /\n/.test(text) || Buffer.byteLength(text) > MAX_MESSAGE_EXPRESSION_BYTES) return {};
  return { text };
}

/** upstream's fieldErrorForReason; objects and lists are not printed as the bad value */
function fieldError(path: string, reason: CauseType, v: unknown, detail: string): FieldCause {
  const omit = typeof v === 'object' && v !== null;
  switch (reason) {
    case 'FieldValueForbidden':
      return { field: path, reason, message: `Forbidden: ${detail}` };
    case 'FieldValueRequired':
      return { field: path, reason, message: `Required value: ${detail}` };
    case 'FieldValueDuplicate':
      return { field: path, reason, message: omit ? 'Duplicate value' : `Duplicate value: ${formatBadValue(v)}` };
    default:
      return { field: path, reason: 'FieldValueInvalid', message: omit ? `Invalid value: ${detail}` : `Invalid value: ${formatBadValue(v)}: ${detail}` };
  }
}

function ruleMessageOrDefault(r: ValidationRule): string {
  return r.message ? r.message.trim() : `failed rule: ${r.rule.trim()}`;
}

function ruleErrorString(r: ValidationRule): string {
  return r.message ? r.message.trim() : r.rule.trim();
}

// ----------------------------------------------------------------------------- values

const RESERVED = new Set(['true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while']);

/** upstream's property-name escaping (`x-y` is `self.x__dash__y`); undefined: not accessible from CEL */
export function escapeProperty(name: string): string | undefined {
  if (name === '' || /^[0-9]/.test(name)) return undefined;
  if (RESERVED.has(name)) return `__${name}__`;
  let ok = true;
  const out = name.replace(/__|[-./]|[^a-zA-Z0-9_]/g, (m) => {
    switch (m) {
      case '__':
        return '__underscores__';
      case '.':
        return '__dot__';
      case '-':
        return '__dash__';
      case '/':
        return '__slash__';
      default:
        ok = false;
        return '';
    }
  });
  return ok ? out : undefined;
}

/**
 * A JSON value as CEL sees it under schema `s`: integers are ints (bigint), numbers doubles,
 * date-time strings timestamps, declared properties under their escaped names; the resource root
 * and embedded resources show apiVersion, kind and metadata.name/generateName only.
 */
export function toCel(s: JSONSchemaProps | undefined, v: unknown, resource = false): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') {
    if (s?.type === 'number') return v;
    return Number.isInteger(v) ? BigInt(v) : v;
  }
  if (typeof v === 'string') {
    if (s?.type === 'string' && s.format === 'date-time') {
      const t = Date.parse(v);
      return Number.isNaN(t) ? v : new Date(t);
    }
    return v;
  }
  if (Array.isArray(v)) return v.map((x) => toCel(s?.items, x));
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  if (s && isPlainObject(s.properties)) {
    for (const [k, x] of Object.entries(v)) {
      const p = Object.hasOwn(s.properties, k) ? s.properties[k] : undefined;
      const name = escapeProperty(k);
      if (p && name !== undefined) out[name] = toCel(p, x, p['x-kubernetes-embedded-resource'] === true);
    }
  } else if (s && isPlainObject(s.additionalProperties)) {
    for (const [k, x] of Object.entries(v)) out[k] = toCel(s.additionalProperties as JSONSchemaProps, x);
  } else {
    for (const [k, x] of Object.entries(v)) out[k] = toCel(undefined, x);
  }
  if (resource) {
    if (typeof v.apiVersion === 'string') out.apiVersion = v.apiVersion;
    if (typeof v.kind === 'string') out.kind = v.kind;
    const md = isPlainObject(v.metadata) ? v.metadata : undefined;
    if (md) {
      const m: Record<string, unknown> = {};
      if (typeof md.name === 'string') m.name = md.name;
      if (typeof md.generateName === 'string') m.generateName = md.generateName;
      out.metadata = m;
    }
  }
  return out;
}
