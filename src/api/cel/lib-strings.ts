import type { Environment } from '@marcbachmann/cel-js';
import { celError } from './errors.ts';

/**
 * The strings extension functions (cel-go ext.Strings, version 2 as Kubernetes enables it) the
 * evaluator lacks: charAt, replace, reverse and strings.quote. lowerAscii, upperAscii, split, join,
 * trim, substring, indexOf and lastIndexOf are the evaluator's own.
 */
export function registerStringsLibrary(env: Environment): void {
  env.registerFunction('string.charAt(int): string', (s: string, i: bigint) => {
    const cps = [...s];
    if (i < 0n || i > BigInt(cps.length)) throw celError(`index out of range: ${i}`);
    return cps[Number(i)] ?? '';
  });
  env.registerFunction('string.replace(string, string): string', (s: string, from: string, to: string) => s.split(from).join(to));
  env.registerFunction('string.replace(string, string, int): string', (s: string, from: string, to: string, n: bigint) => {
    if (n < 0n) return s.split(from).join(to);
    let out = '';
    let rest = s;
    for (let i = 0n; i < n; i++) {
      const at = rest.indexOf(from);
      if (at < 0) break;
      out += rest.slice(0, at) + to;
      rest = rest.slice(at + from.length);
      if (from === '') {
        out += rest.slice(0, 1);
        rest = rest.slice(1);
      }
    }
    return out + rest;
  });
  env.registerFunction('string.reverse(): string', (s: string) => [...s].reverse().join(''));
  env.registerType('kubernetes.StringsLibrary', StringsLibrary);
  env.registerConstant('strings', 'kubernetes.StringsLibrary', new StringsLibrary());
  env.registerFunction('kubernetes.StringsLibrary.quote(string): string', (_: StringsLibrary, s: string) => JSON.stringify(s));
}

/** the `strings` namespace of strings.quote() */
class StringsLibrary {}
