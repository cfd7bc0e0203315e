import { createRequire } from 'node:module';
import type * as CelJs from '@marcbachmann/cel-js';

let mod: typeof CelJs | undefined;

/**
 * @marcbachmann/cel-js, loaded on first use: node's require of an ES module (Node ≥ 20.19, the
 * engines of package.json) is synchronous and gives the module instance an `import` gets. Every
 * apiserver, `hedge node`'s replica too, imports the CEL code, but only a CRD validation rule, an
 * admission policy or a webhook match condition runs it: loaded at start it held ~0.4 MiB of heap
 * and ~2.5 MiB resident in a node that never does.
 */
export function celJs(): typeof CelJs {
  return (mod ??= createRequire(import.meta.url)('@marcbachmann/cel-js') as typeof CelJs);
}
