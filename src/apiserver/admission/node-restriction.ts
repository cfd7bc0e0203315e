import type { Pod } from 'kubernetes-types/core/v1.js';
import { isPlainObject, type KubeObject } from '../../api/object.ts';
import { MIRROR_POD_ANNOTATION } from '../../api/service-account.ts';
import { podReferences } from '../auth/node-graph.ts';
import { notFound } from '../../lib/errors.ts';
import { NODE_LEASE_NAMESPACE, nodeNameOf } from '../auth/node-identity.ts';
import { admissionForbidden } from './forbidden.ts';
import type { AdmissionPlugin, AdmissionRequest } from './types.ts';

const nodeNameOfPod = (pod: KubeObject | undefined): string => ((pod?.spec ?? {}) as { nodeName?: string }).nodeName ?? '';

export interface NodeRestrictionOptions {
  /** a stored pod (upstream's pod lister): an eviction or a bound token names one, undefined when there is none */
  getPod(namespace: string, name: string): Promise<KubeObject | undefined>;
  /** a stored Node (upstream's node lister): a mirror pod's owner reference must carry its UID */
  getNode?(name: string): Promise<KubeObject | undefined>;
}

/**
 * Upstream's NodeRestriction for the writes a node may make at all (see node-authorizer.ts):
 * only its own Node and Lease; pods: creation only of mirror pods of its static pods (admitPodCreate),
 * status, deletion and eviction only of pods bound to it, no other subresource; tokens (serviceaccounts/token) only bound to a pod bound to it. As upstream it
 * handles CREATE, UPDATE and DELETE: a CONNECT (exec, attach, nodes/proxy) is the authorizer's.
 */
export function nodeRestrictionPlugin(opts: NodeRestrictionOptions): AdmissionPlugin {
  return {
    name: 'NodeRestriction',
    async validate(req) {
      const node = nodeNameOf(req.user);
      if (node === undefined || req.operation === 'CONNECT') return;
      const { def } = req;
      if (def.group === '' && def.plural === 'nodes') {
        if (req.name !== node) throw admissionForbidden(req, `node "${node}" is not allowed to modify node "${req.name}"`);
        return;
      }
      if (def.group === '' && def.plural === 'pods') return admitPod(node, req, opts);
      if (def.group === '' && def.plural === 'serviceaccounts') {
        if (req.operation === 'CREATE' && req.subresource === 'token') await admitToken(node, req, opts);
        return;
      }
      if (def.group === 'coordination.k8s.io' && def.plural === 'leases' && req.namespace === NODE_LEASE_NAMESPACE) {
        if (req.name !== node) throw admissionForbidden(req, 'can only access node lease with the same name as the requesting node');
      }
    },
  };
}

async function admitPod(node: string, req: AdmissionRequest, opts: NodeRestrictionOptions): Promise<void> {
  switch (req.subresource) {
    case '': {
      const bound = nodeNameOfPod(req.oldObject ?? req.object);
      if (req.operation === 'CREATE') return admitPodCreate(node, req, opts);
      if (req.operation === 'DELETE') {
        if (bound !== node) throw admissionForbidden(req, `node "${node}" can only delete pods with spec.nodeName set to itself`);
        return;
      }
      throw admissionForbidden(req, `unexpected operation "${req.operation}", node "${node}" can only create and delete mirror pods`);
    }
    case 'status':
      if (nodeNameOfPod(req.oldObject ?? req.object) !== node) {
        throw admissionForbidden(req, `node "${node}" can only update pod status for pods with spec.nodeName set to itself`);
      }
      return;
    case 'eviction': {
      // upstream admitPodEviction: the pod named by the URL (else the Eviction), as stored
      if (req.operation !== 'CREATE') throw admissionForbidden(req, `unexpected operation ${req.operation}`);
      const podName = req.name || req.object?.metadata.name || '';
      if (podName === '') throw admissionForbidden(req, 'could not determine pod from request data');
      const pod = await opts.getPod(req.namespace, podName);
      if (!pod) throw notFound('pods', podName);
      if (nodeNameOfPod(pod) !== node) throw admissionForbidden(req, `node ${node} can only evict pods with spec.nodeName set to itself`);
      return;
    }
    default:
      throw admissionForbidden(req, `unexpected pod subresource "${req.subresource}", only 'status' and 'eviction' are allowed`);
  }
}

/**
 * upstream admitPodCreate: a node creates only the mirror of one of its static pods: annotated
 * `kubernetes.io/config.mirror`, bound to itself, with one controller owner reference, to its own
 * Node (its UID, no blockOwnerDeletion), and referencing no other API object (service account,
 * Secret, ConfigMap, ClusterTrustBundle, PVC, generic ephemeral volume, ResourceClaim): the node
 * must not reach by a pod what the node authorizer denies it directly. Messages are upstream's.
 */
async function admitPodCreate(node: string, req: AdmissionRequest, opts: NodeRestrictionOptions): Promise<void> {
  if (!req.object) throw admissionForbidden(req, 'unexpected type undefined');
  const pod = req.object as unknown as Pod;
  if (pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] === undefined) {
    throw admissionForbidden(req, `pod does not have "${MIRROR_POD_ANNOTATION}" annotation, node "${node}" can only create mirror pods`);
  }
  if ((pod.spec?.nodeName ?? '') !== node) throw admissionForbidden(req, `node "${node}" can only create pods with spec.nodeName set to itself`);
  const owners = pod.metadata?.ownerReferences ?? [];
  if (owners.length > 1) throw admissionForbidden(req, `node "${node}" can only create pods with a single owner reference set to itself`);
  const owner = owners[0];
  if (!owner) throw admissionForbidden(req, `node "${node}" can only create pods with an owner reference set to itself`);
  if (owner.apiVersion !== 'v1' || owner.kind !== 'Node' || owner.name !== node) {
    throw admissionForbidden(req, `node "${node}" can only create pods with an owner reference set to itself`);
  }
  if (owner.controller !== true) throw admissionForbidden(req, `node "${node}" can only create pods with a controller owner reference set to itself`);
  if (owner.blockOwnerDeletion === true) throw admissionForbidden(req, `node "${node}" must not set blockOwnerDeletion on an owner reference`);
  if (opts.getNode) {
    const stored = await opts.getNode(node);
    if (!stored) throw notFound('nodes', node);
    if (owner.uid !== stored.metadata.uid) throw admissionForbidden(req, `node ${node} UID mismatch: expected ${owner.uid} got ${stored.metadata.uid ?? ''}`);
  }
  const spec = pod.spec ?? { containers: [] };
  if (spec.serviceAccountName) throw admissionForbidden(req, `node "${node}" can not create pods that reference a service account`);
  const refs = podReferences(pod).filter((r) => r.resource !== 'serviceaccounts');
  if (refs.some((r) => r.resource === 'secrets')) throw admissionForbidden(req, `node "${node}" can not create pods that reference secrets`);
  if (refs.some((r) => r.resource === 'configmaps')) throw admissionForbidden(req, `node "${node}" can not create pods that reference configmaps`);
  for (const v of spec.volumes ?? []) {
    if (v.projected?.sources?.some((s) => (s as { clusterTrustBundle?: unknown }).clusterTrustBundle !== undefined)) {
      throw admissionForbidden(req, `node "${node}" can not create pods that use clustertrustbundles`);
    }
  }
  for (const v of spec.volumes ?? []) {
    if (v.persistentVolumeClaim) throw admissionForbidden(req, `node "${node}" can not create pods that reference persistentvolumeclaims`);
    if (v.ephemeral) throw admissionForbidden(req, `node "${node}" can not create pods that use generic ephemeral volumes`);
  }
  if (((spec as { resourceClaims?: unknown[] }).resourceClaims ?? []).length > 0) throw admissionForbidden(req, `node "${node}" can not create pods that reference resourceclaims`);
}

/** upstream admitServiceAccount: a node's TokenRequest is bound to a pod that is bound to the node */
async function admitToken(node: string, req: AdmissionRequest, opts: NodeRestrictionOptions): Promise<void> {
  const spec = isPlainObject(req.object?.spec) ? req.object.spec : {};
  const ref = isPlainObject(spec.boundObjectRef) ? spec.boundObjectRef : undefined;
  if (!ref || (ref.apiVersion ?? 'v1') !== 'v1' || ref.kind !== 'Pod' || typeof ref.name !== 'string' || ref.name === '') {
    throw admissionForbidden(req, 'node requested token not bound to a pod');
  }
  const pod = await opts.getPod(req.namespace, ref.name);
  if (!pod) throw admissionForbidden(req, 'node requested token bound to a pod that does not exist');
  if (typeof ref.uid === 'string' && ref.uid !== '' && ref.uid !== pod.metadata.uid) {
    throw admissionForbidden(req, `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
  }
  if (nodeNameOfPod(pod) !== node) throw admissionForbidden(req, 'node requested token bound to a pod scheduled on a different node');
}
