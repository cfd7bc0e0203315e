import type { Ingress, IngressClass } from 'kubernetes-types/networking/v1.js';
import type { KubeObject } from '../object.ts';

export type IngressObject = Ingress & KubeObject;
export type IngressClassObject = IngressClass & KubeObject;

/** the deprecated annotation an Ingress may still name its class by (networking/v1beta1 AnnotationIngressClass) */
export const INGRESS_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
/** networking/v1 AnnotationIsDefaultIngressClass, on an IngressClass */
export const DEFAULT_INGRESS_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

/** upstream's check is exactly the string "true" */
export const isDefaultIngressClass = (ic: KubeObject): boolean => ic.metadata.annotations?.[DEFAULT_INGRESS_CLASS_ANNOTATION] === 'true';
