/**
 * The two questions the node's server asks the cloud (kubelet --authentication-token-webhook,
 * --authorization-mode=Webhook): who a bearer token is (authentication.k8s.io/v1 TokenReview)
 * and whether a user may do what a request does to this Node (authorization.k8s.io/v1
 * SubjectAccessReview). Asked through the node's own client, as the node: on an edge node that
 * is the edgehub, which passes them through to the cloud while it is online and answers 503 at
 * once while it is not.
 */
import { isPlainObject, type KubeObject } from '../../../api/object.ts';
import type { KubeClient, ResourceRef } from '../../../client/types.ts';
import type { NodeRequestAttributes } from './request-attributes.ts';

/** authentication.k8s.io/v1 UserInfo */
export interface NodeUser {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export interface AccessDecision {
  allowed: boolean;
  /** why, when the authorizer said (shown in the node's log, not to the caller) */
  reason?: string;
}

/** The cloud's reviews; each throws (a HedgeError) when it could not be answered. */
export interface AccessReviews {
  /** the token's user, or undefined when the token is not valid */
  reviewToken(token: string, signal: AbortSignal): Promise<NodeUser | undefined>;
  reviewAccess(user: NodeUser, attrs: NodeRequestAttributes, signal: AbortSignal): Promise<AccessDecision>;
}

const TOKEN_REVIEWS: ResourceRef = { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenReview', plural: 'tokenreviews', namespaced: false };
const SUBJECT_ACCESS_REVIEWS: ResourceRef = { group: 'authorization.k8s.io', version: 'v1', kind: 'SubjectAccessReview', plural: 'subjectaccessreviews', namespaced: false };

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);

/** status.user of an authenticated TokenReview, checked (the answer comes over the network) */
function userOf(status: Record<string, unknown>): NodeUser | undefined {
  if (status.authenticated !== true || !isPlainObject(status.user)) return undefined;
  const u = status.user;
  if (typeof u.username !== 'string' || u.username === '') return undefined;
  const user: NodeUser = { username: u.username, groups: strings(u.groups) };
  if (typeof u.uid === 'string' && u.uid !== '') user.uid = u.uid;
  if (isPlainObject(u.extra)) {
    const extra = Object.fromEntries(Object.entries(u.extra).map(([k, v]) => [k, strings(v)]));
    if (Object.keys(extra).length > 0) user.extra = extra;
  }
  return user;
}

/** The reviews as API objects created through `client`. */
export function apiAccessReviews(client: KubeClient): AccessReviews {
  return {
    async reviewToken(token, signal) {
      const review: KubeObject = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: {}, spec: { token } };
      const answer = await client.create(TOKEN_REVIEWS, review, { signal });
      return isPlainObject(answer.status) ? userOf(answer.status) : undefined;
    },
    async reviewAccess(user, attrs, signal) {
      const spec: Record<string, unknown> = {
        user: user.username,
        groups: user.groups,
        resourceAttributes: { verb: attrs.verb, group: '', version: 'v1', resource: attrs.resource, subresource: attrs.subresource, name: attrs.name },
      };
      if (user.uid) spec.uid = user.uid;
      if (user.extra) spec.extra = user.extra;
      const review: KubeObject = { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', metadata: {}, spec };
      const answer = await client.create(SUBJECT_ACCESS_REVIEWS, review, { signal });
      const status = isPlainObject(answer.status) ? answer.status : {};
      // `denied` is an authorizer's explicit no; allowed must be said, anything else is no
      const decision: AccessDecision = { allowed: status.allowed === true && status.denied !== true };
      if (typeof status.reason === 'string' && status.reason !== '') decision.reason = status.reason;
      return decision;
    },
  };
}
