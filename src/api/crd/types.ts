import type {
  CustomResourceColumnDefinition,
  CustomResourceDefinitionCondition,
  CustomResourceDefinitionNames,
  CustomResourceSubresourceScale,
  SelectableField,
} from 'kubernetes-types/apiextensions/v1.js';
import type { KubeObject } from '../object.ts';
import type { JSONSchemaProps } from './schema.ts';

export const CRD_GROUP = 'apiextensions.k8s.io';
export const CRD_PLURAL = 'customresourcedefinitions';
/** held by every CRD until its custom resources are gone (upstream's name) */
export const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

/** A CRD as stored: kubernetes-types' shape with our JSONSchemaProps (it lacks the x-kubernetes-* keys). */
export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  deprecated?: boolean;
  deprecationWarning?: string;
  schema?: { openAPIV3Schema?: JSONSchemaProps };
  subresources?: { status?: Record<string, never>; scale?: CustomResourceSubresourceScale };
  additionalPrinterColumns?: CustomResourceColumnDefinition[];
  selectableFields?: SelectableField[];
}

export interface CrdSpec {
  group: string;
  names: CustomResourceDefinitionNames;
  scope: string;
  versions: CrdVersion[];
  conversion?: { strategy: string };
  preserveUnknownFields?: boolean;
}

export interface CrdStatus {
  acceptedNames?: CustomResourceDefinitionNames;
  conditions?: CustomResourceDefinitionCondition[];
  storedVersions?: string[];
}

export type CrdObject = KubeObject & { spec: CrdSpec; status?: CrdStatus };

export function conditionOf(crd: CrdObject, type: string): CustomResourceDefinitionCondition | undefined {
  return crd.status?.conditions?.find((c) => c.type === type);
}

/** true once the CRD's names were accepted and its resource is served */
export function isEstablished(crd: CrdObject): boolean {
  return conditionOf(crd, 'Established')?.status === 'True';
}
