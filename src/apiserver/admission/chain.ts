import type { AdmissionPlugin, AdmissionRequest, ReinvocationContext } from './types.ts';

/** Ordered admission plugins; the apiserver calls mutate before validation and validate after. */
export class AdmissionChain {
  readonly #plugins: AdmissionPlugin[];

  constructor(plugins: AdmissionPlugin[]) {
    this.#plugins = [...plugins];
  }

  get names(): string[] {
    return this.#plugins.map((p) => p.name);
  }

  /**
   * Every mutating plugin in order; when one asks for it (a webhook changed the object after an
   * `IfNeeded` webhook saw it), all of them once more, as upstream's reinvoker: the built-in plugins
   * re-run (they are idempotent) and the webhook plugin calls only the webhooks to reinvoke.
   */
  async mutate(req: AdmissionRequest): Promise<void> {
    const ctx: ReinvocationContext = { shouldReinvoke: false, isReinvoke: false, values: new Map() };
    req.reinvocation = ctx;
    try {
      for (const p of this.#plugins) if (p.mutate) await p.mutate(req);
      if (!ctx.shouldReinvoke) return;
      ctx.isReinvoke = true;
      for (const p of this.#plugins) if (p.mutate) await p.mutate(req);
    } finally {
      delete req.reinvocation;
    }
  }

  async validate(req: AdmissionRequest): Promise<void> {
    for (const p of this.#plugins) if (p.validate) await p.validate(req);
  }
}
