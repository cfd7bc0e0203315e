import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import type { UserInfo } from '../auth/types.ts';

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** an object's group/version/kind as admission names it (upstream schema.GroupVersionKind) */
export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** One write as admission sees it (upstream admission.Attributes). */
export interface AdmissionRequest {
  operation: AdmissionOperation;
  def: ResourceDef;
  /** '' for the main resource */
  subresource: string;
  /**
   * the kind of `object`/`oldObject` when it is not the resource's own (upstream Attributes.GetKind
   * for a subresource with its own type): autoscaling/v1 Scale for `<plural>/scale`, policy/v1 Eviction,
   * v1 Binding, authentication.k8s.io/v1 TokenRequest, v1 PodExecOptions (CONNECT), ... Absent:
   * the object is a `def.kind` (main resource, `status`, `ephemeralcontainers`, `finalize`).
   */
  kind?: GroupVersionKind;
  namespace: string;
  name: string;
  /** the object being written; mutate plugins change it in place. Undefined for DELETE. */
  object?: KubeObject;
  /** the stored object for UPDATE and DELETE */
  oldObject?: KubeObject;
  user: UserInfo;
  dryRun: boolean;
  signal: AbortSignal;
  /** where a plugin adds warnings for the client (HTTP `Warning: 299 - "..."`); absent for internal writes */
  warnings?: string[];
  /**
   * the request's audit annotations (upstream admission.Attributes.AddAnnotation): plugins add
   * `<plugin domain>/<key>`; absent when the request is not audited
   */
  auditAnnotations?: Record<string, string>;
  /** the mutate phase's reinvocation state (set by AdmissionChain.mutate; upstream ReinvocationContext) */
  reinvocation?: ReinvocationContext;
}

/**
 * upstream admission.ReinvocationContext: a mutating plugin that changed the object after a
 * webhook with `reinvocationPolicy: IfNeeded` saw it sets `shouldReinvoke`, and the chain then
 * runs every mutating plugin once more (the built-in ones included) with `isReinvoke` set.
 */
export interface ReinvocationContext {
  shouldReinvoke: boolean;
  isReinvoke: boolean;
  /** per-plugin state kept between the two passes, by plugin name */
  values: Map<string, unknown>;
}

/**
 * An admission step. `mutate` runs first for every plugin in order, then `validate` for every
 * plugin in order; either throws a HedgeError to refuse the request.
 */
export interface AdmissionPlugin {
  readonly name: string;
  mutate?(req: AdmissionRequest): void | Promise<void>;
  validate?(req: AdmissionRequest): void | Promise<void>;
}

/** the kind admission reports for `req` (its subresource's own, else the resource's) */
export function admissionKind(req: Pick<AdmissionRequest, 'def' | 'kind'>): GroupVersionKind {
  return req.kind ?? { group: req.def.group, version: req.def.version, kind: req.def.kind };
}
