import type { AdmissionPlugin } from './types.ts';

/** Applies ResourceDef.defaults to created and updated objects (upstream: defaulting at decode). */
export function defaultsPlugin(): AdmissionPlugin {
  return {
    name: 'Defaults',
    mutate(req) {
      // a subresource's own type (a Scale, an Eviction, a Binding) is not the resource's to default
      if ((req.operation === 'CREATE' || req.operation === 'UPDATE') && req.object && req.kind === undefined && req.def.defaults) {
        req.def.defaults(req.object);
      }
    },
  };
}
