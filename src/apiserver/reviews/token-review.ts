import { AUTHENTICATED_GROUP } from '../auth/authenticator.ts';
import type { OidcAuthenticator } from '../auth/oidc.ts';
import type { Authenticator, UserInfo } from '../auth/types.ts';
import type { ServiceAccountTokenValidator } from '../serviceaccount/token-validator.ts';

/**
 * What a TokenReview answers: the token's user and the audiences it is valid for, or why not
 * (status.error, as upstream's TokenReview reports the authenticator's error).
 */
export type TokenReviewResult = { ok: true; user: UserInfo; audiences: string[] } | { ok: false; error: string };
export type TokenReviewer = (token: string, audiences: readonly string[]) => Promise<TokenReviewResult>;

/**
 * TokenReview as kube-apiserver answers it (pkg/registry/authentication/tokenreview): the
 * requested audiences, or the apiserver's own when none are named. A service account JWT is valid
 * for the audiences it names among those, and only while its service account and bound object
 * are (the same validator requests are authenticated with); a static token knows no audiences, so
 * (upstream's audience-agnostic wrapper) it is valid only for the apiserver's own.
 */
export function tokenReviewer(opts: { authenticator: Authenticator; serviceAccounts: ServiceAccountTokenValidator; oidc?: OidcAuthenticator; implicitAudiences: readonly string[] }): TokenReviewer {
  const implicit = opts.implicitAudiences;
  return async (token, requested) => {
    const audiences = requested.length > 0 ? requested : implicit;
    const ownAudiences = audiences.filter((a) => implicit.includes(a));
    const user = ownAudiences.length > 0 ? opts.authenticator.authenticateToken?.(token) : undefined;
    if (user) return { ok: true, user, audiences: ownAudiences };
    const sa = await opts.serviceAccounts.validate(token, audiences);
    // an OIDC ID token knows no apiserver audiences either: valid for the apiserver's own only
    if (!sa.ok && sa.foreign && opts.oidc?.handles(token) && ownAudiences.length > 0) {
      try {
        const u = await opts.oidc.authenticate(token);
        return { ok: true, user: { ...u, groups: [...u.groups, AUTHENTICATED_GROUP] }, audiences: ownAudiences };
      } catch (err) {
        return { ok: false, error: (err as Error).message };
      }
    }
    if (!sa.ok) return { ok: false, error: sa.reason };
    return { ok: true, user: { ...sa.user, groups: [...sa.user.groups, AUTHENTICATED_GROUP] }, audiences: sa.audiences };
  };
}
