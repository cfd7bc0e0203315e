import type { Environment } from '@marcbachmann/cel-js';
import { celError } from './errors.ts';

/**
 * k8s.io/apiserver/pkg/cel/library/regex.go: find and findAll. Patterns are ECMAScript regular
 * expressions here (upstream: RE2), like the evaluator's own `matches`.
 */
export function registerRegexLibrary(env: Environment): void {
  env.registerFunction('string.find(string): string', (s: string, re: string) => compile(re).exec(s)?.[0] ?? '');
  env.registerFunction('string.findAll(string): list<string>', (s: string, re: string) => findAll(s, re, -1));
  env.registerFunction('string.findAll(string, int): list<string>', (s: string, re: string, n: bigint) => findAll(s, re, Number(n)));
}

const cache = new Map<string, RegExp>();

export function compile(re: string): RegExp {
  let r = cache.get(re);
  if (!r) {
    try {
      r = new RegExp(re, 'u');
    } catch (e) {
      throw celError(`invalid regular expression ${JSON.stringify(re)}: ${(e as Error).message}`);
    }
    if (cache.size > 500) cache.clear();
    cache.set(re, r);
  }
  return r;
}

function findAll(s: string, re: string, n: number): string[] {
  if (n === 0) return [];
  const g = new RegExp(compile(re).source, 'gu');
  const out: string[] = [];
  for (const m of s.matchAll(g)) {
    out.push(m[0]);
    if (n > 0 && out.length >= n) break;
  }
  return out;
}
