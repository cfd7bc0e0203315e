import type { IncomingMessage } from 'node:http';
import { HedgeError } from '../../lib/errors.ts';
import type { Authenticator, UserInfo } from '../auth/types.ts';
import type { ServiceAccountTokenValidator } from './token-validator.ts';

const AUTHENTICATED = 'system:authenticated';

/** an extended token (token-signer.ts `extendExpiration`) used `seconds` past its `warnafter` */
export type StaleTokenHook = (req: IncomingMessage, subject: string, seconds: number) => void;

/** upstream's audit annotation for such a use (pkg/serviceaccount/claims.go) */
export const STALE_TOKEN_ANNOTATION = 'authentication.k8s.io/stale-token';

/**
 * Tries `first`, then a bearer service account JWT. A JWT of ours that fails validation (its
 * service account or bound object gone, expired, another audience) is an `Unauthorized` error
 * carrying the reason, which the request pipeline logs and answers with a bare 401, as
 * upstream's union authenticator returns the JWT authenticator's error.
 */
export function withServiceAccountTokens(first: Authenticator, validator: ServiceAccountTokenValidator, onStale?: StaleTokenHook): Authenticator {
  const fromJwt = async (token: string, req: IncomingMessage): Promise<UserInfo | undefined> => {
    const r = await validator.validate(token);
    if (r.ok && r.staleSeconds !== undefined) onStale?.(req, r.user.username, r.staleSeconds);
    if (r.ok) return { ...r.user, groups: [...r.user.groups, AUTHENTICATED] };
    if (r.foreign) return undefined;
    throw new HedgeError('Unauthorized', r.reason);
  };
  const bearer = (req: IncomingMessage): Promise<UserInfo | undefined> | undefined => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    // a JWT has three dot-separated parts; static tokens usually do not
    return m && m[1].split('.').length === 3 ? fromJwt(m[1], req) : undefined;
  };
  return {
    // synchronous unless a JWT is to be checked: most requests (certificates, static tokens) stay off the microtask queue
    authenticate(req: IncomingMessage): UserInfo | undefined | Promise<UserInfo | undefined> {
      const user = first.authenticate(req);
      if (user instanceof Promise) return user.then((u) => u ?? bearer(req));
      return user ?? bearer(req);
    },
    authenticateToken: first.authenticateToken?.bind(first),
  };
}
