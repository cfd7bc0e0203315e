import { isPlainObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { badRequest } from '../../lib/errors.ts';
import type { Authorizer, AuthorizationAttributes } from '../auth/authorizer.ts';
import { decodeObjectBody, objectBodyFormat, readBody } from '../body.ts';
import { sendJson } from '../handlers/respond.ts';
import type { RequestScope } from '../handlers/scope.ts';
import type { ApiGroupProvider } from '../providers.ts';
import type { RequestVerb } from '../request-info.ts';
import { statusErrors } from '../status.ts';

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

/**
 * SelfSubjectAccessReview (`kubectl auth can-i`) and SelfSubjectReview (`kubectl auth whoami`):
 * both describe the caller, so any authenticated user may create them.
 */
export function reviewsProvider(deps: { authorizer: Authorizer }): ApiGroupProvider {
  const ssar = reviewDef('authorization.k8s.io', 'SelfSubjectAccessReview', 'selfsubjectaccessreviews');
  const ssr = reviewDef('authentication.k8s.io', 'SelfSubjectReview', 'selfsubjectreviews');
  return {
    name: 'reviews',
    resources: [ssar, ssr],
    async serve(rq: RequestScope): Promise<void> {
      if (rq.info.verb !== 'create' || rq.info.name !== '' || rq.info.subresource !== '') throw statusErrors.methodNotAllowed(rq.req.method ?? '', rq.def.plural);
      if (rq.def === ssr) {
        await readReview(rq, ssr.kind);
        const userInfo: Record<string, unknown> = { username: rq.user.username, groups: rq.user.groups };
        if (rq.user.uid) userInfo.uid = rq.user.uid;
        sendJson(rq.res, 201, { kind: ssr.kind, apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, status: { userInfo } });
        return;
      }
      const body = await readReview(rq, ssar.kind);
      const spec = (isPlainObject(body.spec) ? body.spec : {}) as Parameters<typeof attributesFromReview>[0];
      const decision = await deps.authorizer.authorize(rq.user, attributesFromReview(spec));
      const status: Record<string, unknown> = { allowed: decision.allowed };
      if (!decision.allowed && decision.reason) status.reason = decision.reason;
      sendJson(rq.res, 201, { kind: ssar.kind, apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status });
    },
  };
}
