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

/** IngressClass.spec.controller of the classes `hedge node`'s ingress controller serves (agent/network/ingress) */
export const HEDGE_INGRESS_CONTROLLER = 'hedge.io/ingress';
/** the IngressClass a fresh server creates for it (the default class when the cluster has none) */
export const HEDGE_INGRESS_CLASS = 'hedge';
