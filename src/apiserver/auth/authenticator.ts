import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { TokenLookup } from './tokens.ts';
import type { Authenticator, UserInfo } from './types.ts';

export interface AuthenticatorOptions {
  /** PEM bundle of CAs whose client certificates are accepted; undefined = no cert auth */
  clientCa?: string;
  /** bearer token table; undefined = no token auth */
  tokens?: TokenLookup;
}

/** Every authenticated user also gets this group, as kube-apiserver adds it. */
export const AUTHENTICATED_GROUP = 'system:authenticated';

function splitPemBundle(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function asList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function withAuthenticatedGroup(u: UserInfo): UserInfo {
  return u.groups.includes(AUTHENTICATED_GROUP) ? u : { ...u, groups: [...u.groups, AUTHENTICATED_GROUP] };
}

/**
 * Client certificate first (CN = user, O = groups, as kube-apiserver's x509 authenticator),
 * then `Authorization: Bearer`. A certificate counts only when the TLS layer verified it
 * (`authorized`) AND it was issued by one of `clientCa`, so a server configured with a
 * wider trust bundle cannot widen who is a user.
 */
export function createAuthenticator(opts: AuthenticatorOptions): Authenticator {
  const cas = splitPemBundle(opts.clientCa ?? '').map((p) => new X509Certificate(p));
  // one TLS connection carries many requests; parse and check its certificate once
  const bySocket = new WeakMap<Socket, UserInfo | null>();

  function fromCertificate(sock: TLSSocket): UserInfo | undefined {
    const cached = bySocket.get(sock);
    if (cached !== undefined) return cached ?? undefined;
    let user: UserInfo | null = null;
    if (sock.authorized) {
      const peer = sock.getPeerCertificate();
      if (peer.raw !== undefined && peer.subject !== undefined) {
        const cert = new X509Certificate(peer.raw);
        const trusted = cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
        const cn = asList(peer.subject.CN)[0];
        if (trusted && cn !== undefined && cn !== '') {
          user = { username: cn, groups: asList(peer.subject.O) };
        }
      }
    }
    bySocket.set(sock, user);
    return user ?? undefined;
  }

  function fromBearer(req: IncomingMessage): UserInfo | undefined {
    if (opts.tokens === undefined) return undefined;
    const h = req.headers.authorization;
    if (h === undefined) return undefined;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (m === null) return undefined;
    return opts.tokens.lookup(m[1]);
  }

  return {
    authenticate(req: IncomingMessage): UserInfo | undefined {
      const sock = req.socket;
      const certUser = cas.length > 0 && sock instanceof TLSSocket ? fromCertificate(sock) : undefined;
      const user = certUser ?? fromBearer(req);
      return user === undefined ? undefined : withAuthenticatedGroup(user);
    },
  };
}
