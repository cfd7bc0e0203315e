import type { Pod, PodSpec, Container, Volume } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import { referencedNetworks } from '../../api/annotations/multus.ts';
import { volumeClaimName } from '../../api/storage/claims.ts';
import type { CacheEvent } from './object-cache.ts';

/** What a node may read because a pod bound to it uses it (upstream's node authorizer graph vertices). */
export type GraphResource = 'secrets' | 'configmaps' | 'persistentvolumeclaims' | 'serviceaccounts' | 'network-attachment-definitions';

export interface PodReference {
  resource: GraphResource;
  name: string;
  /** when not the pod's own (a NetworkAttachmentDefinition may live in another namespace) */
  namespace?: string;
}

function fromVolume(v: Volume, out: PodReference[]): void {
  if (v.secret?.secretName) out.push({ resource: 'secrets', name: v.secret.secretName });
  if (v.configMap?.name) out.push({ resource: 'configmaps', name: v.configMap.name });
  if (v.persistentVolumeClaim?.claimName) out.push({ resource: 'persistentvolumeclaims', name: v.persistentVolumeClaim.claimName });
  for (const src of v.projected?.sources ?? []) {
    if (src.secret?.name) out.push({ resource: 'secrets', name: src.secret.name });
    if (src.configMap?.name) out.push({ resource: 'configmaps', name: src.configMap.name });
  }
  // volume plugins that carry a secret for the node to use
  const secretRefs = [v.csi?.nodePublishSecretRef?.name, v.cephfs?.secretRef?.name, v.rbd?.secretRef?.name, v.iscsi?.secretRef?.name, v.flexVolume?.secretRef?.name, v.azureFile?.secretName];
  for (const name of secretRefs) if (name) out.push({ resource: 'secrets', name });
}

function fromContainer(c: Container, out: PodReference[]): void {
  for (const e of c.envFrom ?? []) {
    if (e.secretRef?.name) out.push({ resource: 'secrets', name: e.secretRef.name });
    if (e.configMapRef?.name) out.push({ resource: 'configmaps', name: e.configMapRef.name });
  }
  for (const e of c.env ?? []) {
    const s = e.valueFrom?.secretKeyRef?.name;
    const cm = e.valueFrom?.configMapKeyRef?.name;
    if (s) out.push({ resource: 'secrets', name: s });
    if (cm) out.push({ resource: 'configmaps', name: cm });
  }
}

/** Every Secret, ConfigMap, PVC, ServiceAccount and NetworkAttachmentDefinition a pod references (upstream podutil.VisitPodSecretNames and friends). */
export function podReferences(pod: Pod): PodReference[] {
  const spec: PodSpec = pod.spec ?? { containers: [] };
  const out: PodReference[] = [{ resource: 'serviceaccounts', name: spec.serviceAccountName || 'default' }];
  for (const s of spec.imagePullSecrets ?? []) if (s.name) out.push({ resource: 'secrets', name: s.name });
  for (const v of spec.volumes ?? []) fromVolume(v, out);
  // a generic ephemeral volume's claim, `<pod>-<volume>` (the node mounts it like any claim)
  for (const v of spec.volumes ?? []) if (v.ephemeral) out.push({ resource: 'persistentvolumeclaims', name: volumeClaimName(pod, v) ?? '' });
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...((spec.ephemeralContainers ?? []) as Container[])]) fromContainer(c, out);
  // the Multus annotations: the node reads the NetworkAttachmentDefinitions its pods attach to
  const ns = pod.metadata?.namespace ?? '';
  for (const n of referencedNetworks(pod.metadata?.annotations, ns)) out.push({ resource: 'network-attachment-definitions', name: n.name, ...(n.namespace !== ns ? { namespace: n.namespace } : {}) });
  return out;
}

/**
 * Which node may read which Secret/ConfigMap/PVC/ServiceAccount (and the PV a readable PVC is
 * bound to, fed by the PVC cache): an edge per (bound pod,
 * referenced object), counted, so an object stays readable while any pod on the node uses it and
 * stops being readable when the last such pod is deleted, unbound or stops referencing it.
 * Fed by the pod cache's events.
 */
export class NodeGraph {
  /** pod key → the node and edge keys it contributes */
  readonly #byPod = new Map<string, { edges: string[] }>();
  readonly #counts = new Map<string, number>();
  /** PV name → the claims (`ns/name`) whose spec.volumeName is that volume (upstream's PV → PVC edge) */
  readonly #claimsByVolume = new Map<string, Set<string>>();
  /** claim `ns/name` → its spec.volumeName */
  readonly #volumeByClaim = new Map<string, string>();
  /** Ingress `ns/name` → the `ns\0secret` keys its spec.tls names */
  readonly #tlsByIngress = new Map<string, string[]>();
  /** `ns\0secret` → how many Ingresses name it */
  readonly #tlsSecrets = new Map<string, number>();

  static #edge(node: string, resource: GraphResource, namespace: string, name: string): string {
    return `${node}\u0000${resource}\u0000${namespace}\u0000${name}`;
  }

  allows(node: string, resource: string, namespace: string, name: string): boolean {
    // a PV is readable while a claim bound to it is (a pod on the node uses the claim)
    if (resource === 'persistentvolumes') {
      for (const claim of this.#claimsByVolume.get(name) ?? []) {
        const slash = claim.indexOf('/');
        if (this.allows(node, 'persistentvolumeclaims', claim.slice(0, slash), claim.slice(slash + 1))) return true;
      }
      return false;
    }
    // every node runs an ingress controller (agent/network/ingress): the TLS Secrets Ingresses name
    if (resource === 'secrets' && this.#tlsSecrets.has(`${namespace}\u0000${name}`)) return true;
    return (this.#counts.get(NodeGraph.#edge(node, resource as GraphResource, namespace, name)) ?? 0) > 0;
  }

  #setIngress(ing: KubeObject): void {
    const key = `${ing.metadata.namespace ?? ''}/${ing.metadata.name ?? ''}`;
    this.#dropIngress(key);
    const ns = ing.metadata.namespace ?? '';
    const tls = (ing.spec as { tls?: { secretName?: string }[] } | undefined)?.tls ?? [];
    const keys = [...new Set(tls.map((t) => t.secretName).filter((n): n is string => !!n).map((n) => `${ns}\u0000${n}`))];
    if (keys.length === 0) return;
    this.#tlsByIngress.set(key, keys);
    for (const k of keys) this.#tlsSecrets.set(k, (this.#tlsSecrets.get(k) ?? 0) + 1);
  }

  #dropIngress(key: string): void {
    const keys = this.#tlsByIngress.get(key);
    if (!keys) return;
    this.#tlsByIngress.delete(key);
    for (const k of keys) {
      const n = (this.#tlsSecrets.get(k) ?? 0) - 1;
      if (n <= 0) this.#tlsSecrets.delete(k);
      else this.#tlsSecrets.set(k, n);
    }
  }

  /** follows the Ingress cache: the Secrets its spec.tls names are readable by every node */
  applyIngress(ev: CacheEvent<KubeObject>, all: () => Iterable<KubeObject>): void {
    switch (ev.type) {
      case 'added':
      case 'updated':
        this.#setIngress(ev.obj);
        return;
      case 'deleted':
        this.#dropIngress(`${ev.obj.metadata.namespace ?? ''}/${ev.obj.metadata.name ?? ''}`);
        return;
      case 'resynced':
        this.#tlsByIngress.clear();
        this.#tlsSecrets.clear();
        for (const i of all()) this.#setIngress(i);
        return;
    }
  }

  get edgeCount(): number {
    return this.#counts.size;
  }

  #remove(key: string): void {
    const prev = this.#byPod.get(key);
    if (!prev) return;
    this.#byPod.delete(key);
    for (const e of prev.edges) {
      const n = (this.#counts.get(e) ?? 0) - 1;
      if (n <= 0) this.#counts.delete(e);
      else this.#counts.set(e, n);
    }
  }

  #add(pod: Pod): void {
    const key = `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
    this.#remove(key);
    const node = pod.spec?.nodeName;
    if (!node) return;
    const ns = pod.metadata?.namespace ?? '';
    const edges = [...new Set(podReferences(pod).map((r) => NodeGraph.#edge(node, r.resource, r.namespace ?? ns, r.name)))];
    this.#byPod.set(key, { edges });
    for (const e of edges) this.#counts.set(e, (this.#counts.get(e) ?? 0) + 1);
  }

  reset(pods: Iterable<KubeObject>): void {
    this.#byPod.clear();
    this.#counts.clear();
    for (const p of pods) this.#add(p as unknown as Pod);
  }

  #setClaim(claim: KubeObject): void {
    const key = `${claim.metadata.namespace ?? ''}/${claim.metadata.name ?? ''}`;
    this.#dropClaim(key);
    const volume = (claim.spec as { volumeName?: string } | undefined)?.volumeName;
    if (!volume) return;
    this.#volumeByClaim.set(key, volume);
    let claims = this.#claimsByVolume.get(volume);
    if (!claims) this.#claimsByVolume.set(volume, (claims = new Set()));
    claims.add(key);
  }

  #dropClaim(key: string): void {
    const volume = this.#volumeByClaim.get(key);
    if (volume === undefined) return;
    this.#volumeByClaim.delete(key);
    const claims = this.#claimsByVolume.get(volume);
    claims?.delete(key);
    if (claims?.size === 0) this.#claimsByVolume.delete(volume);
  }

  /** follows the PVC cache: which volume each claim is bound to */
  applyClaim(ev: CacheEvent<KubeObject>, all: () => Iterable<KubeObject>): void {
    switch (ev.type) {
      case 'added':
      case 'updated':
        this.#setClaim(ev.obj);
        return;
      case 'deleted':
        this.#dropClaim(`${ev.obj.metadata.namespace ?? ''}/${ev.obj.metadata.name ?? ''}`);
        return;
      case 'resynced':
        this.#claimsByVolume.clear();
        this.#volumeByClaim.clear();
        for (const c of all()) this.#setClaim(c);
        return;
    }
  }

  apply(ev: CacheEvent<KubeObject>, all: () => Iterable<KubeObject>): void {
    switch (ev.type) {
      case 'added':
      case 'updated':
        this.#add(ev.obj as unknown as Pod);
        return;
      case 'deleted':
        this.#remove(`${ev.obj.metadata.namespace ?? ''}/${ev.obj.metadata.name ?? ''}`);
        return;
      case 'resynced':
        this.reset(all());
        return;
    }
  }
}
