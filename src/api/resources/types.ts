import type { FieldCause } from '../../lib/errors.ts';
import type { KubeObject } from '../object.ts';

/**
 * What the apiserver needs to know about one resource type. Pure data + pure hooks:
 * the REST layer in src/apiserver is generic over these.
 */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description: string;
  /** 0 = always shown; >0 = only with -o wide */
  priority: number;
}

export interface TableDef {
  columns: TableColumn[];
  /** one cell per column, same order; `now` for AGE-like columns */
  row(obj: KubeObject, now: Date): (string | number | boolean | null)[];
}

export interface ResourceDef {
  group: string; // '' for core
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  namespaced: boolean;
  verbs: Verb[];
  /** subresources served, e.g. ['status'] or ['status','binding'] for pods */
  subresources: string[];
  /** true when the object has a .status that only the status subresource may change */
  hasStatus: boolean;
  /** fill defaults in place (called on create and update, after admission mutation) */
  defaults?(obj: KubeObject): void;
  /** validation on create (old undefined) and update (old set): field causes, empty = valid */
  validate?(obj: KubeObject, old?: KubeObject): FieldCause[];
  /**
   * fields usable in fieldSelector besides metadata.name / metadata.namespace, mapped to
   * the string value they compare against ('' when absent)
   */
  fieldSelectors?: Record<string, (obj: KubeObject) => string>;
  table?: TableDef;
  /** bump metadata.generation when this returns true for (old,new) on update; default: spec changed */
  generationChanged?(oldObj: KubeObject, newObj: KubeObject): boolean;
  /**
   * OpenAPI v2 definitions this type brings beyond the generated upstream ones (keyed by
   * definition name; the kind's carries x-kubernetes-group-version-kind): CRDs and custom resources
   */
  openapiDefinitions?: Record<string, Record<string, unknown>>;
  /** set for the versions of a CustomResourceDefinition (served from its schema) */
  custom?: CustomResourceInfo;
  /** set for a version served over another version's stored objects (autoscaling/v1 over v2) */
  conversion?: VersionConversion;
}

/**
 * How a served version reads and writes objects stored as another version: every read (get,
 * list, watch, a write's answer) goes through `fromStorage`, every write through `toStorage`.
 * Both return new objects and keep metadata as it is (resourceVersion included).
 */
export interface VersionConversion {
  /** the apiVersion of the stored objects */
  storageApiVersion: string;
  fromStorage(obj: KubeObject): KubeObject;
  toStorage(obj: KubeObject): KubeObject;
}

/** What a custom resource's ResourceDef carries beyond the generic hooks. */
export interface CustomResourceInfo {
  /** metadata.name of the CRD that defines it */
  crdName: string;
  /** the CRD's storage version (objects are stored with that apiVersion's shape; conversion is None) */
  storageVersion: string;
  /** `scale` subresource paths, as in the CRD */
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string };
  /** the fields of `obj` its schema does not specify (what pruning drops), for fieldValidation */
  unknownFields(obj: KubeObject): string[];
}

export function apiVersionOf(def: Pick<ResourceDef, 'group' | 'version'>): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}
