import type { Container } from 'kubernetes-types/core/v1.js';
import type { ImageInfo } from '../image/types.ts';

/**
 * The process to run, as upstream merges it: `command` replaces the image Entrypoint (and
 * drops its Cmd); `args` replace Cmd. `$(VAR)` references expand against the container env.
 */
export function containerCommand(c: Container, image: ImageInfo['config'], env: Map<string, string>): string[] {
  const expand = (xs: readonly string[]): string[] => xs.map((x) => expandVars(x, env));
  if (c.command?.length) return [...expand(c.command), ...expand(c.args ?? [])];
  const entry = image.Entrypoint ?? [];
  if (c.args?.length) return [...entry, ...expand(c.args)];
  return [...entry, ...(image.Cmd ?? [])];
}

/**
 * Kubernetes `$(VAR)` expansion: known names are replaced, unknown references stay verbatim,
 * `$$` is an escaped `$`.
 */
export function expandVars(input: string, env: Map<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
      continue;
    }
    if (next === '(') {
      const end = input.indexOf(')', i + 2);
      if (end < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, end);
      const v = env.get(name);
      out += v ?? `$(${name})`;
      i = end;
      continue;
    }
    out += ch;
  }
  return out;
}
