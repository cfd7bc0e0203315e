import { AUTHENTICATED_GROUP } from '../auth/authenticator.ts';
import type { Authenticator, UserInfo } from '../auth/types.ts';
import type { ServiceAccountTokens } from '../serviceaccount/token-signer.ts';

/** What a TokenReview answers: the token's user and the audiences it is valid for, or undefined. */
export type TokenReviewer = (token: string, audiences: readonly string[]) => { user: UserInfo; audiences: string[] } | undefined;

/**
 * TokenReview as kube-apiserver answers it (pkg/registry/authentication/tokenreview): the
 * requested audiences, or the apiserver's own when none are named. A service account JWT is valid
 * for the audiences it names among those; a static token knows no audiences, so (upstream's
 * audience-agnostic wrapper) it is valid only for the apiserver's own.
 */
export function tokenReviewer(opts: { authenticator: Authenticator; serviceAccounts: ServiceAccountTokens; now?: () => Date }): TokenReviewer {
  const now = opts.now ?? (() => new Date());
  const implicit = opts.serviceAccounts.audiences;
  return (token, requested) => {
    const audiences = requested.length > 0 ? requested : implicit;
    const ownAudiences = audiences.filter((a) => implicit.includes(a));
    const user = ownAudiences.length > 0 ? opts.authenticator.authenticateToken?.(token) : undefined;
    if (user) return { user, audiences: ownAudiences };
    // a JWT has three dot-separated parts; static tokens usually do not
    if (token.split('.').length !== 3) return undefined;
    const sa = opts.serviceAccounts.review(token, audiences, now());
    return sa && { user: { ...sa.user, groups: [...sa.user.groups, AUTHENTICATED_GROUP] }, audiences: sa.audiences };
  };
}
