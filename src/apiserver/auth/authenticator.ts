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

/** client certificates whose outcome is remembered (the oldest goes first) */
const CERT_CACHE_SIZE = 10_000;

/** Every authenticated user also gets this group, as kube-apiserver adds it. */
export const AUTHENTICATED_GROUP = 'system:authenticated';

function splitPemBundle(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function asList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

export function withAuthenticatedGroup(u: UserInfo): UserInfo {
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
  // and one client opens many connections over time (a node's agent reconnecting, a pool growing
  // and shrinking): the outcome by certificate, keyed by the SHA-256 of its DER bytes, so a new
  // connection costs one hash, not a parse, a chain check and a signature verification
  const byFingerprint = new Map<string, UserInfo | null>();

  function fromCertificate(sock: TLSSocket): UserInfo | undefined {
    const cached = bySocket.get(sock);
    if (cached !== undefined) return cached ?? undefined;
    let user: UserInfo | null = null;
    const cert = sock.authorized ? sock.getPeerX509Certificate() : undefined;
    if (cert !== undefined) {
      const fp = cert.fingerprint256;
      const known = byFingerprint.get(fp);
      if (known !== undefined) user = known;
      else {
        user = verifiedUser(sock, cert);
        if (byFingerprint.size >= CERT_CACHE_SIZE) byFingerprint.delete(byFingerprint.keys().next().value!);
        byFingerprint.set(fp, user);
      }
    }
    bySocket.set(sock, user);
    return user ?? undefined;
  }

  /** the certificate's user when one of `clientCa` issued it (the TLS layer checked validity and the chain) */
  function verifiedUser(sock: TLSSocket, cert: X509Certificate): UserInfo | null {
    if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) return null;
    // the subject's fields as the TLS layer splits them (a multi-valued O is a list)
    const subject = sock.getPeerCertificate().subject as { CN?: string | string[]; O?: string | string[] } | undefined;
    const cn = asList(subject?.CN)[0];
    return cn !== undefined && cn !== '' ? { username: cn, groups: asList(subject?.O) } : null;
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
    authenticateToken(token: string): UserInfo | undefined {
      const user = opts.tokens?.lookup(token);
      return user === undefined ? undefined : withAuthenticatedGroup(user);
    },
  };
}

/** what withOidcTokens needs of auth/oidc.ts's OidcAuthenticator (kept out of this module: jose and undici load only where OIDC is configured) */
export interface OidcTokens {
  handles(token: string): boolean;
  authenticate(token: string): Promise<UserInfo>;
}

/**
 * Tries `first`, then a bearer token of the OIDC provider (upstream's union order: certificates,
 * static tokens, service account tokens, then OIDC). A token of the provider that does not verify
 * is an Unauthorized error with the reason (logged; the caller gets a bare 401).
 */
export function withOidcTokens(first: Authenticator, oidc: OidcTokens | undefined): Authenticator {
  if (!oidc) return first;
  const bearer = (req: IncomingMessage): Promise<UserInfo> | undefined => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    return m && oidc.handles(m[1]) ? oidc.authenticate(m[1]).then(withAuthenticatedGroup) : undefined;
  };
  return {
    authenticate(req) {
      const user = first.authenticate(req);
      if (user instanceof Promise) return user.then((u) => u ?? bearer(req));
      return user ?? bearer(req);
    },
    authenticateToken: first.authenticateToken?.bind(first),
  };
}

/** upstream's anonymous user (`--anonymous-auth`, on by default) */
export const ANONYMOUS_USER: Readonly<UserInfo> = Object.freeze({ username: 'system:anonymous', groups: Object.freeze(['system:unauthenticated']) as string[] });

/**
 * upstream's `--anonymous-auth`: the union of authenticators, then the anonymous one behind it with
 * FailOnError. A request bringing no credential at all (no bearer token, no client certificate) is
 * system:anonymous (group system:unauthenticated) and authorized like anyone (the bootstrap policy
 * grants it system:public-info-viewer: /healthz, /livez, /readyz, /version); a credential that is
 * presented and not accepted is still a 401, as upstream's token and x509 authenticators fail it.
 */
export function withAnonymous(inner: Authenticator): Authenticator {
  const anonymousUnlessCredentials = (req: IncomingMessage, user: UserInfo | undefined): UserInfo | undefined =>
    user ?? (presentsCredentials(req) ? undefined : { username: ANONYMOUS_USER.username, groups: [...ANONYMOUS_USER.groups] });
  return {
    authenticate(req) {
      const user = inner.authenticate(req);
      return user instanceof Promise ? user.then((u) => anonymousUnlessCredentials(req, u)) : anonymousUnlessCredentials(req, user);
    },
    authenticateToken: inner.authenticateToken?.bind(inner),
  };
}

/** a bearer token (upstream's bearertoken authenticator: `Bearer <token>`) or a client certificate on the connection */
function presentsCredentials(req: IncomingMessage): boolean {
  if (/^Bearer\s+\S/i.test(req.headers.authorization ?? '')) return true;
  const sock = req.socket;
  return sock instanceof TLSSocket && Object.keys(sock.getPeerCertificate() ?? {}).length > 0;
}
