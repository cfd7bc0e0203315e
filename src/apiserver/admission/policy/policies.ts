import type { KubeObject } from '../../../api/object.ts';
import { compileBinding, compilePolicy, type CompiledBinding, type CompiledPolicy } from './compile.ts';

/** a policy with the bindings that name it (upstream generic.PolicyHook) */
export interface PolicyHook {
  policy: CompiledPolicy;
  bindings: CompiledBinding[];
}

/**
 * The policies and bindings the apiserver's caches follow, compiled: a policy once per
 * generation (a binding change or a status write does not recompile it), bindings on the first
 * request after any change. A request reads the compiled list, never the store.
 */
export class AdmissionPolicies {
  readonly #policies: () => Iterable<KubeObject>;
  readonly #bindings: () => Iterable<KubeObject>;
  readonly #compiled = new Map<string, { uid: string; generation: number; policy: CompiledPolicy }>();
  #hooks: readonly PolicyHook[] | undefined;
  /** how many policy compilations ran (for tests: once per generation) */
  compilations = 0;

  constructor(opts: { policies: () => Iterable<KubeObject>; bindings: () => Iterable<KubeObject> }) {
    this.#policies = opts.policies;
    this.#bindings = opts.bindings;
  }

  changed(): void {
    this.#hooks = undefined;
  }

  /** policies in name order, each with its bindings in name order; policies no binding names are left out */
  hooks(): readonly PolicyHook[] {
    if (this.#hooks) return this.#hooks;
    const byPolicy = new Map<string, CompiledBinding[]>();
    for (const b of [...this.#bindings()].sort(byName)) {
      const c = compileBinding(b);
      const list = byPolicy.get(c.policyName) ?? [];
      list.push(c);
      byPolicy.set(c.policyName, list);
    }
    const seen = new Set<string>();
    const hooks: PolicyHook[] = [];
    for (const p of [...this.#policies()].sort(byName)) {
      const name = p.metadata.name ?? '';
      seen.add(name);
      const bindings = byPolicy.get(name);
      if (!bindings) continue;
      hooks.push({ policy: this.#compile(p), bindings });
    }
    for (const name of this.#compiled.keys()) if (!seen.has(name)) this.#compiled.delete(name);
    this.#hooks = hooks;
    return hooks;
  }

  #compile(p: KubeObject): CompiledPolicy {
    const name = p.metadata.name ?? '';
    const uid = p.metadata.uid ?? '';
    const generation = p.metadata.generation ?? 0;
    const hit = this.#compiled.get(name);
    if (hit && hit.uid === uid && hit.generation === generation) return hit.policy;
    const policy = compilePolicy(p);
    this.compilations++;
    this.#compiled.set(name, { uid, generation, policy });
    return policy;
  }
}

const byName = (a: KubeObject, b: KubeObject): number => {
  const x = a.metadata.name ?? '';
  const y = b.metadata.name ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
};
