import { HedgeError } from '../../lib/errors.ts';
import type { UserInfo } from './types.ts';
import type { RequestInfo } from '../request-info.ts';

/** Request attributes an authorizer decides on (upstream authorizer.Attributes). */
export type AuthorizationAttributes = RequestInfo;

/**
 * `reason` of an allowed request says what allowed it (RBAC names the binding; audit events carry
 * it). `noOpinion`: nothing in the chain allowed or denied it (upstream's DecisionNoOpinion, which
 * the request filter treats as a denial and counts apart in authorization_attempts_total)
 */
export type AuthorizationDecision = { allowed: true; reason?: string } | { allowed: false; reason: string; noOpinion?: true };

export interface Authorizer {
  authorize(user: UserInfo, attrs: AuthorizationAttributes): AuthorizationDecision | Promise<AuthorizationDecision>;
}

/** Every authenticated user may do everything (until RBAC / NodeRestriction arrive). */
export function allowAllAuthorizer(): Authorizer {
  return { authorize: () => ({ allowed: true }) };
}

/** 403 with upstream's wording (k8s.io/apiserver/pkg/endpoints/handlers/responsewriters.forbiddenMessage). */
export function forbidden(user: UserInfo, attrs: AuthorizationAttributes, reason: string): HedgeError {
  const suffix = reason ? `: ${reason}` : '';
  const who = `User "${user.username}"`;
  if (!attrs.isResourceRequest) {
    return new HedgeError('Forbidden', `forbidden: ${who} cannot ${attrs.verb} path "${attrs.path}"${suffix}`);
  }
  const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const qualified = attrs.group ? `${attrs.resource}.${attrs.group}` : attrs.resource;
  const subject = attrs.name ? `${qualified} "${attrs.name}" is forbidden` : `${qualified} is forbidden`;
  const scope = attrs.namespace ? `in the namespace "${attrs.namespace}"` : 'at the cluster scope';
  return new HedgeError(
    'Forbidden',
    `${subject}: ${who} cannot ${attrs.verb} resource "${resource}" in API group "${attrs.group}" ${scope}${suffix}`,
    { details: { kind: attrs.resource, group: attrs.group, name: attrs.name || undefined } },
  );
}
