import { DEFAULT_INGRESS_CLASS_ANNOTATION, HEDGE_INGRESS_CLASS, HEDGE_INGRESS_CONTROLLER } from '../../api/networking/ingress.ts';
import type { KubeObject } from '../../api/object.ts';

/**
 * The IngressClass a fresh server creates for the ingress controller every `hedge node` runs
 * (agent/network/ingress), when the cluster has no default class: as the default, so Ingresses
 * without a class are served too (DefaultIngressClass admission fills the name in).
 */
export function hedgeIngressClass(): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name: HEDGE_INGRESS_CLASS, annotations: { [DEFAULT_INGRESS_CLASS_ANNOTATION]: 'true' } },
    spec: { controller: HEDGE_INGRESS_CONTROLLER },
  } as KubeObject;
}
