import type { KubeObject } from '../../api/object.ts';
import { HedgeError } from '../../lib/errors.ts';
import { NODE_LEASE_NAMESPACE, nodeNameOf } from '../auth/node-identity.ts';
import { admissionForbidden } from './forbidden.ts';
import type { AdmissionPlugin } from './types.ts';


const nodeNameOfPod = (pod: KubeObject | undefined): string => ((pod?.spec ?? {}) as { nodeName?: string }).nodeName ?? '';

/**
 * Upstream's NodeRestriction for the writes a node may make at all (see node-authorizer.ts):
 * only its own Node and Lease, status and deletion only of pods bound to it.
 */
export function nodeRestrictionPlugin(): AdmissionPlugin {
  return {
    name: 'NodeRestriction',
    validate(req) {
      const node = nodeNameOf(req.user);
      if (node === undefined) return;
      const { def } = req;
      if (def.group === '' && def.plural === 'nodes') {
        if (req.name !== node) throw admissionForbidden(req, `node "${node}" is not allowed to modify node "${req.name}"`);
        return;
      }
      if (def.group === '' && def.plural === 'pods') {
        const bound = nodeNameOfPod(req.oldObject ?? req.object);
        if (req.operation === 'DELETE' && bound !== node) throw admissionForbidden(req, `node "${node}" can only delete pods with spec.nodeName set to itself`);
        if (req.operation === 'UPDATE' && req.subresource === 'status' && bound !== node) {
          throw admissionForbidden(req, `node "${node}" can only update pod status for pods with spec.nodeName set to itself`);
        }
        if (req.operation === 'CREATE' || (req.operation === 'UPDATE' && req.subresource !== 'status')) {
          throw admissionForbidden(req, `node "${node}" is not allowed to ${req.operation === 'CREATE' ? 'create' : 'update'} pods`);
        }
        return;
      }
      if (def.group === 'coordination.k8s.io' && def.plural === 'leases' && req.namespace === NODE_LEASE_NAMESPACE) {
        if (req.name !== node) throw admissionForbidden(req, 'can only access node lease with the same name as the requesting node');
      }
    },
  };
}

/** NodeRestriction for TokenRequest: a node may only mint tokens bound to a pod running on it. */
export function checkNodeTokenRequest(node: string, boundPod: KubeObject | undefined, boundKind: string | undefined, saName: string): void {
  const err = (reason: string): HedgeError =>
    new HedgeError('Forbidden', `serviceaccounts "${saName}" is forbidden: ${reason}`, { details: { kind: 'serviceaccounts', name: saName } });
  if (boundKind !== 'Pod') throw err('node requested token not bound to a pod');
  if (!boundPod) throw err('node requested token bound to a pod that does not exist');
  if (nodeNameOfPod(boundPod) !== node) throw err('node requested token bound to a pod scheduled on a different node');
}
