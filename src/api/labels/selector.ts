import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import { HedgeError } from '../../lib/errors.ts';
import { isQualifiedName, isValidLabelValue } from '../meta/name-formats.ts';

/** Operators of the string form; `!` is DoesNotExist, a bare key is Exists. */
export type Operator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

export interface Requirement {
  key: string;
  operator: Operator;
  /** sorted, de-duplicated; empty for exists / ! */
  values: string[];
}

/**
 * A parsed label selector. `nothing` is upstream's Nothing() selector (what a nil LabelSelector
 * converts to): it matches no object, unlike an empty selector which matches every object.
 */
export interface Selector {
  requirements: Requirement[];
  nothing?: true;
}

export type Labels = Readonly<Record<string, string>> | undefined;

export const everything = (): Selector => ({ requirements: [] });
export const nothing = (): Selector => ({ requirements: [], nothing: true });

export function isEverything(sel: Selector): boolean {
  return !sel.nothing && sel.requirements.length === 0;
}

function has(labels: Labels, key: string): boolean {
  return labels !== undefined && Object.prototype.hasOwnProperty.call(labels, key);
}

const INT_RE = /^[+-]?\d+$/;

export function requirementMatches(r: Requirement, labels: Labels): boolean {
  switch (r.operator) {
    case '=':
    case '==':
    case 'in':
      return has(labels, r.key) && r.values.includes(labels![r.key]);
    case '!=':
    case 'notin':
      return !has(labels, r.key) || !r.values.includes(labels![r.key]);
    case 'exists':
      return has(labels, r.key);
    case '!':
      return !has(labels, r.key);
    case 'gt':
    case 'lt': {
      if (!has(labels, r.key) || r.values.length !== 1) return false;
      const actual = labels![r.key];
      const want = r.values[0];
      if (!INT_RE.test(actual) || !INT_RE.test(want)) return false;
      const a = BigInt(actual);
      const w = BigInt(want);
      return r.operator === 'gt' ? a > w : a < w;
    }
    default: {
      const never: never = r.operator;
      return never;
    }
  }
}

export function matches(sel: Selector, labels: Labels): boolean {
  if (sel.nothing) return false;
  return sel.requirements.every((r) => requirementMatches(r, labels));
}

/** Canonical string form, like labels.Selector.String() (requirements sorted by key). */
export function selectorToString(sel: Selector): string {
  return sel.requirements
    .map((r) => {
      switch (r.operator) {
        case 'exists':
          return r.key;
        case '!':
          return `!${r.key}`;
        case 'in':
        case 'notin':
          return `${r.key} ${r.operator} (${r.values.join(',')})`;
        case 'gt':
          return `${r.key}>${r.values[0]}`;
        case 'lt':
          return `${r.key}<${r.values[0]}`;
        default:
          return `${r.key}${r.operator}${r.values[0]}`;
      }
    })
    .join(',');
}

/** field.Error strings as labels.NewRequirement aggregates them. */
function requirementErrors(key: string, op: Operator, values: string[]): string[] {
  const errs: string[] = [];
  const keyErrs = isQualifiedName(key);
  if (keyErrs.length) errs.push(`key: Invalid value: ${JSON.stringify(key)}: ${keyErrs.join('; ')}`);
  const valuesLiteral = `[]string{${values.map((v) => JSON.stringify(v)).join(', ')}}`;
  switch (op) {
    case 'in':
    case 'notin':
      if (values.length === 0) errs.push(`values: Invalid value: ${valuesLiteral}: for 'in', 'notin' operators, values set can't be empty`);
      break;
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) errs.push(`values: Invalid value: ${valuesLiteral}: exact-match compatibility requires one single value`);
      break;
    case 'exists':
    case '!':
      if (values.length !== 0) errs.push(`values: Invalid value: ${valuesLiteral}: values set must be empty for exists and does not exist`);
      break;
    case 'gt':
    case 'lt':
      if (values.length !== 1) errs.push(`values: Invalid value: ${valuesLiteral}: for 'Gt', 'Lt' operators, exactly one value is required`);
      values.forEach((v, i) => {
        if (!INT_RE.test(v)) errs.push(`values[${i}]: Invalid value: ${JSON.stringify(v)}: for 'Gt', 'Lt' operators, the value must be an integer`);
      });
      break;
  }
  values.forEach((v, i) => {
    const vErrs = isValidLabelValue(v);
    if (vErrs.length) errs.push(`values[${i}][${key}]: Invalid value: ${JSON.stringify(v)}: ${vErrs.join('; ')}`);
  });
  return errs;
}

/** utilerrors.NewAggregate(...).Error(): one message bare, several in brackets. */
function aggregate(errs: string[]): string {
  return errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`;
}

/** Builds a validated requirement; throws HedgeError('BadRequest') like labels.NewRequirement. */
export function newRequirement(key: string, operator: Operator, values: string[]): Requirement {
  const errs = requirementErrors(key, operator, values);
  if (errs.length) throw new HedgeError('BadRequest', aggregate(errs));
  return { key, operator, values: [...new Set(values)].sort() };
}

// ---- lexer/parser for the string form (labels.Parse) ----

type Tok =
  | 'error'
  | 'eos'
  | ')'
  | ','
  | '!'
  | '=='
  | '='
  | '>'
  | 'id'
  | 'in'
  | '<'
  | '!='
  | 'notin'
  | '(';

interface Item {
  tok: Tok;
  lit: string;
}

const LITERAL_TOKENS: Record<string, Tok> = {
  ')': ')',
  ',': ',',
  '!': '!',
  '==': '==',
  '=': '=',
  '>': '>',
  in: 'in',
  '<': '<',
  '!=': '!=',
  notin: 'notin',
  '(': '(',
};

const isWhitespace = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
const isSpecial = (ch: string): boolean => '=!(),><'.includes(ch);

function lex(s: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  for (;;) {
    while (pos < s.length && isWhitespace(s[pos])) pos++;
    if (pos >= s.length) {
      items.push({ tok: 'eos', lit: '' });
      return items;
    }
    if (isSpecial(s[pos])) {
      // longest run of special characters that still forms a known operator
      let buf = '';
      let last: Item | undefined;
      while (pos < s.length && isSpecial(s[pos])) {
        buf += s[pos];
        const t = LITERAL_TOKENS[buf];
        if (t) {
          last = { tok: t, lit: buf };
        } else if (last) {
          break;
        }
        pos++;
      }
      if (!last) {
        items.push({ tok: 'error', lit: `error expected: keyword found '${buf}'` });
      } else {
        items.push(last);
      }
      continue;
    }
    let buf = '';
    while (pos < s.length && !isSpecial(s[pos]) && !isWhitespace(s[pos])) buf += s[pos++];
    items.push({ tok: LITERAL_TOKENS[buf] ?? 'id', lit: buf });
  }
}

const BINARY_OPERATORS = 'in, notin, =, ==, !=, gt, lt';

class Parser {
  readonly #items: Item[];
  #pos = 0;

  constructor(items: Item[]) {
    this.#items = items;
  }

  /** In value context the keywords `in`/`notin` are plain identifiers ("x in (in)"). */
  #look(values: boolean): Item {
    const it = this.#items[this.#pos];
    return values && (it.tok === 'in' || it.tok === 'notin') ? { tok: 'id', lit: it.lit } : it;
  }

  #next(values: boolean): Item {
    const it = this.#look(values);
    if (this.#pos < this.#items.length - 1) this.#pos++;
    return it;
  }

  parse(): Requirement[] {
    const reqs: Requirement[] = [];
    for (;;) {
      const { tok, lit } = this.#look(true);
      if (tok === 'eos') return reqs;
      if (tok !== 'id' && tok !== '!') throw new Error(`found '${lit}', expected: !, identifier, or 'end of string'`);
      try {
        reqs.push(this.#requirement());
      } catch (err) {
        throw new Error(`unable to parse requirement: ${(err as Error).message}`, { cause: err });
      }
      const after = this.#next(true);
      if (after.tok === 'eos') return reqs;
      if (after.tok !== ',') throw new Error(`found '${after.lit}', expected: ',' or 'end of string'`);
      const t2 = this.#look(true);
      if (t2.tok !== 'id' && t2.tok !== '!') throw new Error(`found '${t2.lit}', expected: identifier after ','`);
    }
  }

  #requirement(): Requirement {
    let it = this.#next(true);
    let op: Operator | undefined;
    if (it.tok === '!') {
      op = '!';
      it = this.#next(true);
    }
    if (it.tok !== 'id') throw new Error(`found '${it.lit}', expected: identifier`);
    const key = it.lit;
    const keyErrs = isQualifiedName(key);
    // upstream validates the key with a nil field path here, hence the odd "<nil>" prefix
    if (keyErrs.length) throw new Error(`<nil>: Invalid value: ${JSON.stringify(key)}: ${keyErrs.join('; ')}`);
    const la = this.#look(true).tok;
    if (la === 'eos' || la === ',') return newRequirementOrThrow(key, op ?? 'exists', []);
    if (op === '!') return newRequirementOrThrow(key, op, []);
    const opItem = this.#next(false);
    switch (opItem.tok) {
      case 'in':
      case 'notin':
        return newRequirementOrThrow(key, opItem.tok, this.#setValues());
      case '=':
      case '==':
      case '!=':
        return newRequirementOrThrow(key, opItem.tok, this.#exactValue());
      case '>':
        return newRequirementOrThrow(key, 'gt', this.#exactValue());
      case '<':
        return newRequirementOrThrow(key, 'lt', this.#exactValue());
      default:
        throw new Error(`found '${opItem.lit}', expected: ${BINARY_OPERATORS}`);
    }
  }

  #setValues(): string[] {
    const open = this.#next(true);
    if (open.tok !== '(') throw new Error(`found '${open.lit}' expected: '('`);
    const first = this.#look(true);
    if (first.tok === ')') {
      this.#next(true);
      return [''];
    }
    if (first.tok !== 'id' && first.tok !== ',') throw new Error(`found '${first.lit}', expected: ',', ')' or identifier`);
    const vals = this.#identifierList();
    const close = this.#next(true);
    if (close.tok !== ')') throw new Error(`found '${first.lit}', expected: ')'`);
    return vals;
  }

  /** A comma-separated list where empty entries mean the empty value: "(a,,b)", "(,a)". */
  #identifierList(): string[] {
    const s = new Set<string>();
    for (;;) {
      const it = this.#next(true);
      if (it.tok === 'id') {
        s.add(it.lit);
        const la = this.#look(true);
        if (la.tok === ',') continue;
        if (la.tok === ')') return [...s];
        throw new Error(`found '${la.lit}', expected: ',' or ')'`);
      } else if (it.tok === ',') {
        if (s.size === 0) s.add('');
        const la = this.#look(true);
        if (la.tok === ')') {
          s.add('');
          return [...s];
        }
        if (la.tok === ',') {
          this.#next(true);
          s.add('');
        }
      } else {
        throw new Error(`found '${it.lit}', expected: ',', or identifier`);
      }
    }
  }

  #exactValue(): string[] {
    const la = this.#look(true);
    if (la.tok === 'eos' || la.tok === ',') return [''];
    const it = this.#next(true);
    if (it.tok === 'id') return [it.lit];
    throw new Error(`found '${it.lit}', expected: identifier`);
  }
}

function newRequirementOrThrow(key: string, op: Operator, values: string[]): Requirement {
  const errs = requirementErrors(key, op, values);
  if (errs.length) throw new Error(aggregate(errs));
  return { key, operator: op, values: [...new Set(values)].sort() };
}

function byKey(a: Requirement, b: Requirement): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * Parses the string form used by `?labelSelector=` and `kubectl -l`, e.g.
 * `a=b,c!=d,e in (x,y),f notin (z),g,!h`. Throws HedgeError('BadRequest') with upstream's wording.
 */
export function parseSelector(input: string): Selector {
  try {
    const reqs = new Parser(lex(input)).parse();
    return { requirements: reqs.sort(byKey) };
  } catch (err) {
    if (err instanceof HedgeError) throw err;
    throw new HedgeError('BadRequest', (err as Error).message, { cause: err });
  }
}

/**
 * metav1.LabelSelectorAsSelector: undefined/null selects nothing, `{}` selects everything.
 * Throws HedgeError('BadRequest') for an unknown operator or an invalid key/value.
 */
export function selectorFromLabelSelector(ls: LabelSelector | null | undefined): Selector {
  if (ls === null || ls === undefined) return nothing();
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(ls.matchLabels ?? {})) reqs.push(newRequirement(k, '=', [v]));
  for (const expr of ls.matchExpressions ?? []) {
    let op: Operator;
    switch (expr.operator) {
      case 'In':
        op = 'in';
        break;
      case 'NotIn':
        op = 'notin';
        break;
      case 'Exists':
        op = 'exists';
        break;
      case 'DoesNotExist':
        op = '!';
        break;
      default:
        throw new HedgeError('BadRequest', `${JSON.stringify(expr.operator)} is not a valid label selector operator`);
    }
    reqs.push(newRequirement(expr.key, op, [...(expr.values ?? [])]));
  }
  return { requirements: reqs.sort(byKey) };
}

/** A map selector (Service.spec.selector, ReplicationController): {} or absent matches everything. */
export function selectorFromSet(set: Readonly<Record<string, string>> | undefined): Selector {
  return {
    requirements: Object.entries(set ?? {})
      .map(([key, v]): Requirement => ({ key, operator: '=', values: [v] }))
      .sort(byKey),
  };
}
