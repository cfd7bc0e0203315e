import type { AdmissionPlugin, AdmissionRequest } from './types.ts';

/** Ordered admission plugins; the apiserver calls mutate before validation and validate after. */
export class AdmissionChain {
  readonly #plugins: AdmissionPlugin[];

  constructor(plugins: AdmissionPlugin[]) {
    this.#plugins = [...plugins];
  }

  get names(): string[] {
    return this.#plugins.map((p) => p.name);
  }

  async mutate(req: AdmissionRequest): Promise<void> {
    for (const p of this.#plugins) if (p.mutate) await p.mutate(req);
  }

  async validate(req: AdmissionRequest): Promise<void> {
    for (const p of this.#plugins) if (p.validate) await p.validate(req);
  }
}
