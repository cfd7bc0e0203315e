import type { KubeObject } from '../../api/object.ts';
import { tryParseQuantity } from '../../api/meta/quantity.ts';
import { HedgeError } from '../../lib/errors.ts';
import { DEFAULT_NETWORK_ANNOTATION, RUNTIME_CLASS_DEFAULT_NETWORK_ANNOTATION } from '../../api/annotations/multus.ts';
import type { AdmissionPlugin, AdmissionRequest } from './types.ts';

export interface RuntimeClassAdmissionOptions {
  getRuntimeClass(name: string): Promise<KubeObject | undefined>;
}

interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

interface RuntimeClassView {
  overhead?: { podFixed?: Record<string, string> };
  scheduling?: { nodeSelector?: Record<string, string>; tolerations?: Toleration[] };
}

interface PodSpecView {
  runtimeClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  overhead?: Record<string, string>;
}

/** upstream admission.NewForbidden: `pods "name" is forbidden: <reason>` */
function rejected(req: AdmissionRequest, reason: string): HedgeError {
  return new HedgeError('Forbidden', `pods "${req.name}" is forbidden: ${reason}`, { details: { kind: 'pods', name: req.name } });
}

/** Quantities compared by value, as apiequality.Semantic does ("1Gi" equals "1073741824"). */
function sameResourceList(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => {
    if (!(k in b)) return false;
    const qa = tryParseQuantity(String(a[k]));
    const qb = tryParseQuantity(String(b[k]));
    if (typeof qa === 'string' || typeof qb === 'string') return a[k] === b[k];
    return qa.cmp(qb) === 0;
  });
}

const sameToleration = (a: Toleration, b: Toleration): boolean =>
  (a.key ?? '') === (b.key ?? '') &&
  (a.operator ?? 'Equal') === (b.operator ?? 'Equal') &&
  (a.value ?? '') === (b.value ?? '') &&
  (a.effect ?? '') === (b.effect ?? '') &&
  a.tolerationSeconds === b.tolerationSeconds;

/**
 * Upstream's RuntimeClass admission plugin, on pod create: the class must exist; its
 * scheduling.nodeSelector is merged into the pod (a different value for the same key is refused),
 * its tolerations appended (duplicates dropped), and spec.overhead set from overhead.podFixed
 * (a pod that brings a different overhead is refused). The class's `hedge.io/default-network`
 * annotation becomes the pod's `v1.multus-cni.io/default-network` unless the pod names one.
 */
export function runtimeClassPlugin(opts: RuntimeClassAdmissionOptions): AdmissionPlugin {
  return {
    name: 'RuntimeClass',
    async mutate(req) {
      if (req.operation !== 'CREATE' || req.subresource !== '' || req.def.group !== '' || req.def.plural !== 'pods' || !req.object) return;
      const spec = (req.object.spec ?? {}) as PodSpecView;
      const className = spec.runtimeClassName;
      if (!className) {
        if (spec.overhead && Object.keys(spec.overhead).length > 0) {
          throw rejected(req, 'pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead');
        }
        return;
      }
      const rc = await opts.getRuntimeClass(className);
      if (!rc) throw rejected(req, `pod rejected: RuntimeClass "${className}" not found`);
      const view = rc as unknown as RuntimeClassView;
      const podFixed = view.overhead?.podFixed;
      if (podFixed && Object.keys(podFixed).length > 0) {
        if (spec.overhead && !sameResourceList(spec.overhead, podFixed)) {
          throw rejected(req, "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead");
        }
        spec.overhead = { ...podFixed };
      } else if (spec.overhead && Object.keys(spec.overhead).length > 0) {
        throw rejected(req, 'pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead');
      }
      const scheduling = view.scheduling;
      if (scheduling?.nodeSelector) {
        const selector = { ...(spec.nodeSelector ?? {}) };
        for (const [key, value] of Object.entries(scheduling.nodeSelector)) {
          const podValue = selector[key];
          if (podValue !== undefined && podValue !== value) {
            throw rejected(req, `conflict: runtimeClass.scheduling.nodeSelector[${key}] = ${value}; pod.spec.nodeSelector[${key}] = ${podValue}`);
          }
          selector[key] = value;
        }
        spec.nodeSelector = selector;
      }
      if (scheduling?.tolerations && scheduling.tolerations.length > 0) {
        const merged = [...(spec.tolerations ?? [])];
        for (const t of scheduling.tolerations) if (!merged.some((m) => sameToleration(m, t))) merged.push({ ...t });
        spec.tolerations = merged;
      }
      req.object.spec = spec;
      // hedge's addition: a class may name its pods' primary network (a NetworkAttachmentDefinition,
      // `[ns/]name`); the pod's own v1.multus-cni.io/default-network wins
      const network = rc.metadata.annotations?.[RUNTIME_CLASS_DEFAULT_NETWORK_ANNOTATION];
      if (network && req.object.metadata.annotations?.[DEFAULT_NETWORK_ANNOTATION] === undefined) {
        req.object.metadata.annotations = { ...req.object.metadata.annotations, [DEFAULT_NETWORK_ANNOTATION]: network };
      }
    },
  };
}
