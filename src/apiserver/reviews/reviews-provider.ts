import { isPlainObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { badRequest } from '../../lib/errors.ts';
import type { Authorizer, AuthorizationAttributes } from '../auth/authorizer.ts';
import type { SubjectRules } from '../auth/cluster-authorizer.ts';
import type { UserInfo } from '../auth/types.ts';
import { decodeObjectBody, objectBodyFormat, readBody } from '../body.ts';
import { sendJson } from '../handlers/respond.ts';
import type { RequestScope } from '../handlers/scope.ts';
import type { ApiGroupProvider } from '../providers.ts';
import type { RequestVerb } from '../request-info.ts';
import { statusErrors } from '../status.ts';
import type { TokenReviewer } from './token-review.ts';

/** A create-only, cluster-scoped type answered on the spot and never stored. */
export function reviewDef(group: string, kind: string, plural: string): ResourceDef {
  return {
    group,
    version: 'v1',
    kind,
    listKind: `${kind}List`,
    plural,
    singular: plural.replace(/s$/, ''),
    shortNames: [],
    categories: [],
    namespaced: false,
    verbs: ['create'],
    subresources: [],
    hasStatus: false,
  };
}

interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

/** authorization.k8s.io SelfSubjectAccessReview attributes as the authorizer sees a request. */
export function attributesFromReview(spec: { resourceAttributes?: ResourceAttributes; nonResourceAttributes?: { path?: string; verb?: string } }): AuthorizationAttributes {
  if (spec.resourceAttributes) {
    const r = spec.resourceAttributes;
    return {
      isResourceRequest: true,
      verb: (r.verb ?? '') as RequestVerb,
      apiPrefix: r.group ? 'apis' : 'api',
      group: r.group ?? '',
      version: r.version ?? '',
      namespace: r.namespace ?? '',
      resource: r.resource ?? '',
      subresource: r.subresource ?? '',
      name: r.name ?? '',
      path: '',
    };
  }
  if (spec.nonResourceAttributes) {
    return { isResourceRequest: false, verb: (spec.nonResourceAttributes.verb ?? '') as RequestVerb, path: spec.nonResourceAttributes.path ?? '' };
  }
  throw badRequest('spec.resourceAttributes or spec.nonResourceAttributes is required');
}

async function readReview(rq: RequestScope, kind: string): Promise<Record<string, unknown>> {
  const body = decodeObjectBody(await readBody(rq.req, rq.server.maxBodyBytes), objectBodyFormat(rq.req.headers['content-type']));
  if (!isPlainObject(body)) throw badRequest(`the request body must be a ${kind} object`);
  if (body.kind !== undefined && body.kind !== kind) throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (${kind})`);
  return body;
}

const stringList = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** authentication.k8s.io/v1 UserInfo */
function userInfoOf(user: UserInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { username: user.username, groups: user.groups };
  if (user.uid) out.uid = user.uid;
  // a service account token's pod, node and credential id (what `kubectl auth whoami` lists as Extra)
  if (user.extra && Object.keys(user.extra).length > 0) out.extra = user.extra;
  return out;
}

/**
 * The access reviews: SelfSubjectAccessReview (`kubectl auth can-i`), SelfSubjectRulesReview
 * (`kubectl auth can-i --list`) and SelfSubjectReview (`kubectl auth whoami`) describe the
 * caller, so the default policy lets any authenticated user create them; SubjectAccessReview and
 * LocalSubjectAccessReview ask about someone else and need a grant. All answer from `authorizer`
 * (and `rules` for the rules review), exactly as requests are decided. TokenReview (with
 * `tokens`) says who a bearer token stands for: what a node's server asks before it lets a
 * token holder in (system:auth-delegator, and every node, may create them).
 */
export function reviewsProvider(deps: { authorizer: Authorizer; rules?: (user: UserInfo, namespace: string) => SubjectRules; tokens?: TokenReviewer }): ApiGroupProvider {
  const ssar = reviewDef('authorization.k8s.io', 'SelfSubjectAccessReview', 'selfsubjectaccessreviews');
  const ssrr = reviewDef('authorization.k8s.io', 'SelfSubjectRulesReview', 'selfsubjectrulesreviews');
  const sar = reviewDef('authorization.k8s.io', 'SubjectAccessReview', 'subjectaccessreviews');
  const lsar: ResourceDef = { ...reviewDef('authorization.k8s.io', 'LocalSubjectAccessReview', 'localsubjectaccessreviews'), namespaced: true };
  const ssr = reviewDef('authentication.k8s.io', 'SelfSubjectReview', 'selfsubjectreviews');
  const tr = reviewDef('authentication.k8s.io', 'TokenReview', 'tokenreviews');
  const accessStatus = async (user: UserInfo, spec: Parameters<typeof attributesFromReview>[0]): Promise<Record<string, unknown>> => {
    const decision = await deps.authorizer.authorize(user, attributesFromReview(spec));
    const status: Record<string, unknown> = { allowed: decision.allowed };
    if (!decision.allowed && decision.reason) status.reason = decision.reason;
    return status;
  };
  return {
    name: 'reviews',
    resources: [ssar, ssrr, sar, lsar, ssr, ...(deps.tokens ? [tr] : [])],
    async serve(rq: RequestScope): Promise<void> {
      if (rq.info.verb !== 'create' || rq.info.name !== '' || rq.info.subresource !== '') throw statusErrors.methodNotAllowed(rq.req.method ?? '', rq.def.plural);
      if (rq.def === ssrr) {
        const body = await readReview(rq, ssrr.kind);
        const spec = isPlainObject(body.spec) ? body.spec : {};
        const namespace = typeof spec.namespace === 'string' ? spec.namespace : '';
        const status = deps.rules
          ? deps.rules(rq.user, namespace)
          : { resourceRules: [], nonResourceRules: [], incomplete: true, evaluationError: 'the configured authorizer does not list rules' };
        sendJson(rq.res, 201, { kind: ssrr.kind, apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status });
        return;
      }
      if (rq.def === sar || rq.def === lsar) {
        const body = await readReview(rq, rq.def.kind);
        const spec = (isPlainObject(body.spec) ? body.spec : {}) as Parameters<typeof attributesFromReview>[0] & { user?: unknown; groups?: unknown; uid?: unknown };
        const username = typeof spec.user === 'string' ? spec.user : '';
        const groups = stringList(spec.groups);
        if (!username && groups.length === 0) throw badRequest('spec.user or spec.groups: at least one of user or group must be specified');
        if (rq.def === lsar) {
          if (spec.nonResourceAttributes) throw badRequest('spec.nonResourceAttributes: Invalid value: disallowed on this kind of request');
          const ns = spec.resourceAttributes?.namespace ?? '';
          if (ns !== rq.info.namespace) throw badRequest(`spec.resourceAttributes.namespace: Invalid value: ${JSON.stringify(ns)}: must match metadata.namespace`);
        }
        const subject: UserInfo = { username, groups };
        if (typeof spec.uid === 'string' && spec.uid) subject.uid = spec.uid;
        const metadata: Record<string, unknown> = { creationTimestamp: null };
        if (rq.def === lsar) metadata.namespace = rq.info.namespace;
        sendJson(rq.res, 201, { kind: rq.def.kind, apiVersion: 'authorization.k8s.io/v1', metadata, spec, status: await accessStatus(subject, spec) });
        return;
      }
      if (rq.def === tr && deps.tokens) {
        const body = await readReview(rq, tr.kind);
        const spec = isPlainObject(body.spec) ? body.spec : {};
        const token = typeof spec.token === 'string' ? spec.token : '';
        if (token === '') throw badRequest('token is required for TokenReview in authentication');
        const requested = stringList(spec.audiences);
        const review = await deps.tokens(token, requested);
        const status: Record<string, unknown> = review.ok
          ? { authenticated: true, user: userInfoOf(review.user), audiences: review.audiences }
          : { authenticated: false, user: {}, error: review.error };
        // the token is the caller's secret: it is not echoed back
        const echoed = requested.length > 0 ? { audiences: requested } : {};
        sendJson(rq.res, 201, { kind: tr.kind, apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec: echoed, status });
        return;
      }
      if (rq.def === ssr) {
        await readReview(rq, ssr.kind);
        sendJson(rq.res, 201, { kind: ssr.kind, apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, status: { userInfo: userInfoOf(rq.user) } });
        return;
      }
      const body = await readReview(rq, ssar.kind);
      const spec = (isPlainObject(body.spec) ? body.spec : {}) as Parameters<typeof attributesFromReview>[0];
      sendJson(rq.res, 201, { kind: ssar.kind, apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: await accessStatus(rq.user, spec) });
    },
  };
}
