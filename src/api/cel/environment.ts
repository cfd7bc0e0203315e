import type { ASTNode, Environment, ParseResult } from '@marcbachmann/cel-js';
import { celJs } from './cel-js.ts';
import { CelBudget, CelBudgetExceeded, metered } from './budget.ts';
import { registerFormatLibrary } from './lib-format.ts';
import { registerIpLibrary } from './lib-ip.ts';
import { registerListsLibrary } from './lib-lists.ts';
import { registerQuantityLibrary } from './lib-quantity.ts';
import { bindRegexes, registerRegexLibrary } from './lib-regex.ts';
import { registerStringsLibrary } from './lib-strings.ts';
import { registerUrlLibrary } from './lib-url.ts';

/** CEL type names of the variables a program may use ('dyn', 'optional<dyn>', 'map', ...). */
export type CelVariables = Record<string, string>;

/** A compiled expression: evaluate it against variable values within a budget. */
export interface CelProgram {
  readonly source: string;
  /** the result type the checker inferred ('bool', 'string', 'dyn', ...) */
  readonly type: string;
  /** variables the expression references */
  readonly references: ReadonlySet<string>;
  /** run; throws CelEvalError (evaluation error or budget exceeded) */
  evaluate(vars: Record<string, unknown>, budget: CelBudget): unknown;
}

export type CompileResult = { ok: true; program: CelProgram } | { ok: false; message: string };

/** An evaluation failure: `cost` when the budget ran out (upstream stops all further rules then). */
export class CelEvalError extends Error {
  override readonly name = 'CelEvalError';
  constructor(message: string, readonly cost = false) {
    super(message);
  }
}

/**
 * The Kubernetes CEL environment: the evaluator's standard library and macros (has, all, exists,
 * exists_one, map, filter, cel.bind, optionals), plus the Kubernetes libraries (lists, regex, url,
 * quantity, format, ip/cidr, strings extensions). Building one is expensive: build it once and
 * derive per-use environments with `compiler(variables)`.
 */
export class CelEnvironment {
  readonly #base: Environment;
  readonly #compilers = new Map<string, Environment>();

  constructor() {
    const env = new (celJs().Environment)({ enableOptionalTypes: true, homogeneousAggregateLiterals: false });
    registerListsLibrary(env);
    registerStringsLibrary(env);
    registerRegexLibrary(env);
    registerQuantityLibrary(env);
    registerUrlLibrary(env);
    registerFormatLibrary(env);
    registerIpLibrary(env);
    this.#base = env;
  }

  #env(vars: CelVariables): Environment {
    const key = JSON.stringify(Object.entries(vars).sort());
    let env = this.#compilers.get(key);
    if (!env) {
      env = this.#base.clone();
      for (const [name, type] of Object.entries(vars)) env.registerVariable(name, type);
      this.#compilers.set(key, env);
    }
    return env;
  }

  /** The syntax tree of `source` (throws when it does not parse): for callers that look for a pattern. */
  parseOnly(source: string, vars: CelVariables): ASTNode {
    return this.#env(vars).parse(source).ast;
  }

  /**
   * Parse and type-check `source` with `vars` declared. Errors read like cel-go's:
   * `ERROR: <input>:1:9: <what>` with the line and column of the fault.
   */
  compile(source: string, vars: CelVariables): CompileResult {
    let parsed: ParseResult;
    try {
      parsed = this.#env(vars).parse(source);
    } catch (e) {
      return { ok: false, message: describe(e, source) };
    }
    const checked = parsed.check();
    if (!checked.valid) return { ok: false, message: describe(checked.error, source) };
    const badRegex = bindRegexes(parsed.ast);
    if (badRegex) return { ok: false, message: `${where(source, badRegex.at)} ${badRegex.message}` };
    const references = new Set<string>();
    collectIds(parsed.ast, references);
    const names = Object.keys(vars);
    return {
      ok: true,
      program: {
        source,
        type: checked.type ?? 'dyn',
        references,
        evaluate(values, budget) {
          const ctx: Record<string, unknown> = {};
          const { Optional } = celJs();
          for (const n of names) {
            if (!(n in values)) continue;
            const v = values[n];
            ctx[n] = v instanceof Optional ? (v.hasValue() ? Optional.of(metered(v.value(), budget)) : v) : metered(v, budget);
          }
          try {
            return parsed(ctx) as unknown;
          } catch (e) {
            if (e instanceof CelBudgetExceeded) throw new CelEvalError(`operation cancelled: ${e.message}`, true);
            const { EvaluationError, TypeError: CelTypeError } = celJs();
            if (e instanceof EvaluationError || e instanceof CelTypeError) throw new CelEvalError(e.summary || e.message.split('\n')[0]);
            // a library function's own bug must not become a 5xx: report it as the rule's error
            throw new CelEvalError((e as Error).message ?? String(e));
          }
        },
      },
    };
  }
}

function describe(e: unknown, source: string): string {
  const { ParseError, TypeError: CelTypeError, EvaluationError } = celJs();
  if (e instanceof ParseError || e instanceof CelTypeError || e instanceof EvaluationError) {
    return `${where(source, e.range?.start ?? 0)} ${e.summary || e.message.split('\n')[0]}`;
  }
  return `ERROR: <input>: ${(e as Error).message}`;
}

/** `ERROR: <input>:line:col:` for an offset into `source`. */
function where(source: string, at: number): string {
  const before = source.slice(0, at).split('\n');
  return `ERROR: <input>:${before.length}:${(before.at(-1)?.length ?? 0) + 1}:`;
}

function collectIds(node: ASTNode, out: Set<string>): void {
  if (node.op === 'id') {
    out.add(node.args);
    return;
  }
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (typeof x === 'object' && x !== null && 'op' in x && 'args' in x) collectIds(x as ASTNode, out);
  };
  if (node.op !== 'value') walk(node.args);
}

export { CelBudget, CelBudgetExceeded };
