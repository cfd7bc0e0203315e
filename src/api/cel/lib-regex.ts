import type { ASTNode, Environment } from '@marcbachmann/cel-js';
import { createRequire } from 'node:module';
import type * as Re2js from 're2js';
import type { RE2JS } from 're2js';
import { celError } from './errors.ts';

/**
 * Regular expressions as cel-go has them: RE2 syntax and linear-time matching (re2js), so no
 * pattern can stall the event loop, `(?i)`, `\z` and `\pL` work, and backreferences and
 * lookaround are syntax errors. k8s.io/apiserver/pkg/cel/library/regex.go adds find and findAll;
 * the evaluator's own `matches` (ECMAScript RegExp) is replaced on each compiled syntax tree by
 * `bindRegexes`, which also compiles constant patterns up front (upstream's OptimizeRegex), so an
 * invalid one is a compile error.
 */
export function registerRegexLibrary(env: Environment): void {
  env.registerFunction('string.find(string): string', (s: string, re: string) => {
    const m = compile(re).matcher(s);
    return m.find() ? (m.group() ?? '') : '';
  });
  env.registerFunction('string.findAll(string): list<string>', (s: string, re: string) => findAll(s, re, -1));
  env.registerFunction('string.findAll(string, int): list<string>', (s: string, re: string, n: bigint) => findAll(s, re, Number(n)));
}

const cache = new Map<string, RE2JS>();

let re2: typeof Re2js | undefined;
/** re2js on the first pattern compiled (its CommonJS build, synchronously): every apiserver, `hedge
 * node`'s replica too, imports the CEL libraries, few ever compile a pattern (~0.3 MiB heap, ~1.5 MiB
 * resident at start otherwise) */
const re2js = (): typeof Re2js => (re2 ??= createRequire(import.meta.url)('re2js') as typeof Re2js);

/** Compile an RE2 pattern (cached); a syntax error reads like Go's `error parsing regexp: ...`. */
export function compile(re: string): RE2JS {
  let r = cache.get(re);
  if (!r) {
    try {
      r = re2js().RE2JS.compile(re);
    } catch (e) {
      throw celError(e instanceof re2js().RE2JSException ? e.message : `error parsing regexp: ${(e as Error).message}`);
    }
    if (cache.size > 500) cache.clear();
    cache.set(re, r);
  }
  return r;
}

/** `s.matches(re)`: an unanchored search, as cel-go's. */
export function matches(s: string, re: string): boolean {
  return compile(re).matcher(s).find();
}

function findAll(s: string, re: string, n: number): string[] {
  if (n === 0) return [];
  const m = compile(re).matcher(s);
  const out: string[] = [];
  while (m.find()) {
    out.push(m.group() ?? '');
    if (n > 0 && out.length >= n) break;
  }
  return out;
}

const REGEX_METHODS = new Set(['matches', 'find', 'findAll']);

/** A type-checked node the evaluator calls through `handle` (its receiver-call dispatch). */
interface CallNode {
  op: string;
  args: [string, ASTNode, ASTNode[]];
  start?: number;
  handle?: (args: unknown[]) => unknown;
}

/**
 * After type checking: point every `matches` call at RE2 and compile every constant pattern of
 * matches/find/findAll. Returns the offending node's offset and message for an invalid constant
 * pattern.
 */
export function bindRegexes(root: ASTNode): { at: number; message: string } | undefined {
  let bad: { at: number; message: string } | undefined;
  const seen = new Set<object>();
  const walk = (x: unknown): void => {
    if (x === null || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    if (Array.isArray(x)) return x.forEach(walk);
    if (!('op' in x)) return Object.values(x).forEach(walk);
    const node = x as unknown as CallNode;
    if (node.op === 'value') return;
    if (node.op === 'rcall' && REGEX_METHODS.has(node.args[0]) && Array.isArray(node.args[2]) && node.args[2].length >= 1) {
      const pattern = node.args[2][0] as unknown as { op: string; args: unknown; start?: number };
      if (pattern.op === 'value' && typeof pattern.args === 'string' && !bad) {
        try {
          compile(pattern.args);
        } catch (e) {
          bad = { at: pattern.start ?? node.start ?? 0, message: (e as Error).message };
        }
      }
      if (node.args[0] === 'matches' && node.args[2].length === 1) node.handle = re2Matches;
    }
    walk(node.args);
  };
  walk(root);
  return bad;
}

function re2Matches(args: unknown[]): boolean {
  const [s, re] = args;
  if (typeof s !== 'string' || typeof re !== 'string') {
    throw celError(`found no matching overload for '${typeName(s)}.matches(${typeName(re)})'`);
  }
  return matches(s, re);
}

function typeName(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return 'double';
  if (typeof v === 'boolean') return 'bool';
  if (v === null) return 'null_type';
  if (Array.isArray(v)) return 'list';
  return 'map';
}
