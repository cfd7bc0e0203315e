import { randomUUID } from 'node:crypto';
import { isPlainObject, type KubeObject } from '../../../api/object.ts';
import { admissionKind, type AdmissionRequest, type GroupVersionKind } from '../types.ts';

export type { GroupVersionKind };

/** group/version/resource as an AdmissionReview names it */
export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface AdmissionReviewRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind: GroupVersionKind;
  requestResource: GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: string;
  userInfo: { username: string; uid?: string; groups?: string[] };
  object: KubeObject | null;
  oldObject: KubeObject | null;
  dryRun: boolean;
  options: Record<string, unknown> | null;
}

/** what a webhook answered, checked (upstream VerifyAdmissionResponse for admission.k8s.io/v1) */
export interface AdmissionVerdict {
  allowed: boolean;
  status?: Record<string, unknown>;
  /** JSONPatch operations (mutating webhooks only) */
  patch?: unknown[];
  warnings: string[];
}

/** the version of the object a webhook is sent when matchPolicy Equivalent picked another served version */
export interface MatchedVersion {
  group: string;
  version: string;
  kind: string;
  resource: string;
}

const OPTIONS_KIND: Record<string, string> = { CREATE: 'CreateOptions', UPDATE: 'UpdateOptions', DELETE: 'DeleteOptions' };

/** An object shown in another served version of its type (conversion None: only apiVersion changes). */
export function inVersion(obj: KubeObject | undefined, m: MatchedVersion, requestVersion: string): KubeObject | null {
  if (!obj) return null;
  if (m.version === requestVersion || typeof obj.apiVersion !== 'string') return obj;
  return { ...obj, apiVersion: m.group ? `${m.group}/${m.version}` : m.version };
}

/**
 * The `request` of an admission.k8s.io/v1 AdmissionReview for `req`, as the webhook's matched version
 * sees it. A subresource with its own type (a Scale, an Eviction, PodExecOptions) keeps its kind and
 * object whichever version of the resource matched: they are not the resource's kind to convert.
 */
export function reviewRequest(req: AdmissionRequest, matched: MatchedVersion): AdmissionReviewRequest {
  const def = req.def;
  const own = req.kind === undefined;
  const r: AdmissionReviewRequest = {
    uid: randomUUID(),
    kind: own ? { group: matched.group, version: matched.version, kind: matched.kind } : admissionKind(req),
    resource: { group: matched.group, version: matched.version, resource: matched.resource },
    requestKind: admissionKind(req),
    requestResource: { group: def.group, version: def.version, resource: def.plural },
    operation: req.operation,
    userInfo: { username: req.user.username },
    object: own ? inVersion(req.object, matched, def.version) : (req.object ?? null),
    oldObject: own ? inVersion(req.oldObject, matched, def.version) : (req.oldObject ?? null),
    dryRun: req.dryRun,
    options: null,
  };
  if (req.subresource) {
    r.subResource = req.subresource;
    r.requestSubResource = req.subresource;
  }
  if (req.name) r.name = req.name;
  if (req.namespace) r.namespace = req.namespace;
  if (req.user.uid) r.userInfo.uid = req.user.uid;
  if (req.user.groups.length > 0) r.userInfo.groups = [...req.user.groups];
  const optionsKind = OPTIONS_KIND[req.operation];
  if (optionsKind) {
    const options: Record<string, unknown> = { kind: optionsKind, apiVersion: 'meta.k8s.io/v1' };
    if (req.dryRun) options.dryRun = ['All'];
    r.options = options;
  }
  return r;
}

export function reviewBody(request: AdmissionReviewRequest): string {
  return JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request });
}

/** A webhook answered, but not as the protocol says: failurePolicy applies (upstream ErrCallingWebhook). */
export class WebhookCallError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'WebhookCallError';
  }
}

/**
 * Checks a webhook's answer to the review `uid` (upstream VerifyAdmissionResponse, v1): an
 * admission.k8s.io/v1 AdmissionReview whose response carries the same uid; a patch only from a
 * mutating webhook and only as base64 JSONPatch.
 */
export function verifyReviewResponse(body: unknown, uid: string, mutating: boolean): AdmissionVerdict {
  if (!isPlainObject(body) || body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') {
    const gvk = isPlainObject(body) ? `${String(body.apiVersion ?? '')}, Kind=${String(body.kind ?? '')}` : 'not an object';
    throw new WebhookCallError(`expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got ${gvk}`);
  }
  const res = body.response;
  if (!isPlainObject(res)) throw new WebhookCallError('webhook response was absent');
  if (res.uid !== uid) throw new WebhookCallError(`expected response.uid=${JSON.stringify(uid)}, got ${JSON.stringify(res.uid ?? '')}`);
  if (typeof res.allowed !== 'boolean') throw new WebhookCallError('webhook response.allowed must be a boolean');
  const warnings = Array.isArray(res.warnings) ? res.warnings.filter((w): w is string => typeof w === 'string' && w.trim() !== '') : [];
  const verdict: AdmissionVerdict = { allowed: res.allowed, warnings };
  if (isPlainObject(res.status)) verdict.status = res.status;
  const patch = typeof res.patch === 'string' ? res.patch : '';
  if (res.patch !== undefined && res.patch !== null && typeof res.patch !== 'string') throw new WebhookCallError('response.patch must be base64-encoded');
  const patchType = typeof res.patchType === 'string' ? res.patchType : '';
  if (!mutating && patchType !== '') throw new WebhookCallError('validating webhooks may not return response.patchType');
  if (!mutating && patch !== '') throw new WebhookCallError('validating webhooks may not return response.patch');
  if (mutating && patchType === '' && patch !== '') throw new WebhookCallError('webhook returned response.patch but not response.patchType');
  if (mutating && patchType !== '' && patchType !== 'JSONPatch') throw new WebhookCallError(`webhook returned invalid response.patchType of ${JSON.stringify(patchType)}`);
  if (patch !== '') {
    let ops: unknown;
    try {
      ops = JSON.parse(Buffer.from(patch, 'base64').toString('utf8'));
    } catch (err) {
      throw new WebhookCallError(`response.patch is not a base64-encoded JSON patch: ${(err as Error).message}`);
    }
    if (!Array.isArray(ops)) throw new WebhookCallError('response.patch must be a JSON array of patch operations');
    verdict.patch = ops;
  }
  return verdict;
}
