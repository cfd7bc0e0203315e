import type { IncomingMessage } from 'node:http';
import { HedgeError } from '../../lib/errors.ts';
import type { Authenticator, UserInfo } from '../auth/types.ts';
import type { ServiceAccountTokenValidator } from './token-validator.ts';

const AUTHENTICATED = 'system:authenticated';

/**
 * Tries `first`, then a bearer service account JWT. A JWT of ours that fails validation (its
 * service account or bound object gone, expired, another audience) is an `Unauthorized` error
 * carrying the reason, which the request pipeline logs and answers with a bare 401, as
 * upstream's union authenticator returns the JWT authenticator's error.
 */
export function withServiceAccountTokens(first: Authenticator, validator: ServiceAccountTokenValidator): Authenticator {
  const fromJwt = async (token: string): Promise<UserInfo | undefined> => {
    const r = await validator.validate(token);
    if (r.ok) return { ...r.user, groups: [...r.user.groups, AUTHENTICATED] };
    if (r.foreign) return undefined;
    throw new HedgeError('Unauthorized', r.reason);
  };
  const bearer = (req: IncomingMessage): Promise<UserInfo | undefined> | undefined => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    // a JWT has three dot-separated parts; static tokens usually do not
    return m && m[1].split('.').length === 3 ? fromJwt(m[1]) : undefined;
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
