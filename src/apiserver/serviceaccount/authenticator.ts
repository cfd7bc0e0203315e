import type { IncomingMessage } from 'node:http';
import type { Authenticator, UserInfo } from '../auth/types.ts';
import type { ServiceAccountTokens } from './token-signer.ts';

const AUTHENTICATED = 'system:authenticated';

/** Tries `first`, then a bearer service account JWT. */
export function withServiceAccountTokens(first: Authenticator, tokens: ServiceAccountTokens): Authenticator {
  return {
    authenticate(req: IncomingMessage): UserInfo | undefined {
      const user = first.authenticate(req);
      if (user) return user;
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      // a JWT has three dot-separated parts; static tokens usually do not
      if (!m || m[1].split('.').length !== 3) return undefined;
      const sa = tokens.verify(m[1]);
      return sa && { ...sa, groups: [...sa.groups, AUTHENTICATED] };
    },
  };
}
