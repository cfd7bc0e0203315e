import { INGRESS_CLASS_ANNOTATION, isDefaultIngressClass, type IngressObject } from '../../api/networking/ingress.ts';
import type { KubeObject } from '../../api/object.ts';
import { pickDefaultClass } from '../../api/storage/claims.ts';
import type { AdmissionPlugin } from './types.ts';

export interface DefaultIngressClassOptions {
  /** the IngressClasses as stored now */
  listIngressClasses(signal: AbortSignal): Promise<KubeObject[]>;
}

/**
 * Upstream's DefaultIngressClass plugin: an Ingress created without spec.ingressClassName and
 * without the deprecated `kubernetes.io/ingress.class` annotation gets the class annotated
 * `ingressclass.kubernetes.io/is-default-class: "true"`; of several the newest wins (1.28+).
 * Without a default class the Ingress stays classless. Updates are never defaulted.
 */
export function defaultIngressClassPlugin(opts: DefaultIngressClassOptions): AdmissionPlugin {
  return {
    name: 'DefaultIngressClass',
    async mutate(req) {
      if (req.operation !== 'CREATE' || req.subresource !== '' || req.def.group !== 'networking.k8s.io' || req.def.plural !== 'ingresses' || !req.object) return;
      const ing = req.object as IngressObject;
      if ((ing.spec?.ingressClassName ?? undefined) !== undefined || ing.metadata.annotations?.[INGRESS_CLASS_ANNOTATION] !== undefined) return;
      const def = pickDefaultClass(await opts.listIngressClasses(req.signal), isDefaultIngressClass);
      if (def?.metadata.name) ing.spec = { ...ing.spec, ingressClassName: def.metadata.name };
    },
  };
}
