import type { KubeObject } from '../../api/object.ts';
import { HedgeError, notFound } from '../../lib/errors.ts';
import type { AdmissionPlugin } from './types.ts';

/** Namespaces that exist for the system's sake and can never be deleted (upstream immortal namespaces). */
export const immortalNamespaces = ['default', 'kube-system', 'kube-public'];

export interface NamespaceLifecycleOptions {
  getNamespace(name: string): Promise<KubeObject | undefined>;
}

/**
 * Upstream's NamespaceLifecycle: no new objects in a missing or terminating namespace, and the
 * immortal namespaces cannot be deleted.
 */
export function namespaceLifecyclePlugin(opts: NamespaceLifecycleOptions): AdmissionPlugin {
  return {
    name: 'NamespaceLifecycle',
    async validate(req) {
      const { def } = req;
      if (def.group === '' && def.plural === 'namespaces') {
        if (req.operation === 'DELETE' && immortalNamespaces.includes(req.name)) {
          throw new HedgeError('Forbidden', `namespaces "${req.name}" is forbidden: this namespace may not be deleted`, {
            details: { kind: 'namespaces', name: req.name },
          });
        }
        return;
      }
      if (!def.namespaced || req.operation !== 'CREATE' || req.namespace === '') return;
      const ns = await opts.getNamespace(req.namespace);
      if (!ns) throw notFound('namespaces', req.namespace);
      const phase = (ns.status as { phase?: string } | undefined)?.phase;
      if (ns.metadata.deletionTimestamp || phase === 'Terminating') {
        // Upstream lets a few objects into a terminating namespace (e.g. tokens, events); none of ours matter.
        if (def.group === '' && def.plural === 'events') return;
        const qualified = def.group ? `${def.plural}.${def.group}` : def.plural;
        throw new HedgeError(
          'Forbidden',
          `${qualified} "${req.name}" is forbidden: unable to create new content in namespace ${req.namespace} because it is being terminated`,
          {
            details: {
              kind: def.plural,
              group: def.group,
              name: req.name,
              causes: [
                {
                  reason: 'NamespaceTerminating',
                  field: 'metadata.namespace',
                  message: `namespace ${req.namespace} is being terminated`,
                },
              ],
            },
          },
        );
      }
    },
  };
}
