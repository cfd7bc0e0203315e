import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import type { UserInfo } from '../auth/types.ts';

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** One write as admission sees it (upstream admission.Attributes). */
export interface AdmissionRequest {
  operation: AdmissionOperation;
  def: ResourceDef;
  /** '' for the main resource */
  subresource: string;
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
