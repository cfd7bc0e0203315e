import type { AdmissionPlugin } from './types.ts';

/** Applies ResourceDef.defaults to created and updated objects (upstream: defaulting at decode). */
export function defaultsPlugin(): AdmissionPlugin {
  return {
    name: 'Defaults',
    mutate(req) {
      if ((req.operation === 'CREATE' || req.operation === 'UPDATE') && req.object && req.def.defaults) {
        req.def.defaults(req.object);
      }
    },
  };
}
