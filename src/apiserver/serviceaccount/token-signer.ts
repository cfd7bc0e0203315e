import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { UserInfo } from '../auth/types.ts';

/**
 * Service account JWTs (ES256) as kube-apiserver issues them for TokenRequest. Signing and
 * verification use node:crypto directly: the Authenticator seam is synchronous and a JWT with
 * one fixed algorithm is a few lines, so no JOSE library is needed.
 */

export const SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts';
export const SERVICE_ACCOUNT_USER_PREFIX = 'system:serviceaccount:';
export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface ServiceAccountTokenOptions {
  /** PEM private key (EC P-256); undefined = a fresh key per process (tests only: tokens die with it) */
  privateKeyPem?: string;
  /** `iss`, and the default audience (default https://kubernetes.default.svc.cluster.local) */
  issuer?: string;
  /** audiences the apiserver accepts (default [issuer]) */
  audiences?: string[];
  /** cap on expirationSeconds (default 48 h) */
  maxExpirationSeconds?: number;
}

export interface IssueRequest {
  namespace: string;
  serviceAccount: { name: string; uid: string };
  audiences: string[];
  expirationSeconds: number;
  pod?: { name: string; uid: string };
  node?: { name: string; uid: string };
  now: Date;
}

interface Claims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
    node?: { name: string; uid: string };
  };
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** A PEM EC P-256 private key, created (0600) on first use. */
export async function loadOrCreateServiceAccountKey(path: string): Promise<string> {
  if (existsSync(path)) return readFile(path, 'utf8');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, pem, { mode: 0o600, flag: 'wx' }).catch(async (err: NodeJS.ErrnoException) => {
    // another process won the race; use its key
    if (err.code !== 'EEXIST') throw err;
  });
  await chmod(path, 0o600);
  return readFile(path, 'utf8');
}

export interface VerifyOptions {
  publicKey: KeyObject;
  issuer: string;
  audiences: readonly string[];
  now: Date;
}

/**
 * The user a service account token stands for, or undefined when it is not one of ours or is
 * expired / for another audience. Upstream also checks the service account and bound pod still
 * exist; that lookup is async and is not done here yet.
 */
export function verifyServiceAccountToken(token: string, opts: VerifyOptions): UserInfo | undefined {
  return reviewServiceAccountToken(token, opts)?.user;
}

/**
 * As verifyServiceAccountToken, with the audiences of `opts.audiences` the token is for (a
 * TokenReview's status.audiences: upstream's JWT authenticator answers the intersection).
 */
export function reviewServiceAccountToken(token: string, opts: VerifyOptions): { user: UserInfo; audiences: string[] } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let header: { alg?: string };
  let claims: Claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as { alg?: string };
    if (header.alg !== 'ES256') return undefined;
    const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: opts.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
    if (!ok) return undefined;
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Claims;
  } catch {
    return undefined;
  }
  const nowSec = Math.floor(opts.now.getTime() / 1000);
  if (claims.iss !== opts.issuer) return undefined;
  if (typeof claims.exp !== 'number' || nowSec >= claims.exp) return undefined;
  if (typeof claims.nbf === 'number' && nowSec + 60 < claims.nbf) return undefined;
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  const audiences = opts.audiences.filter((a) => aud.includes(a));
  if (audiences.length === 0) return undefined;
  const k8s = claims['kubernetes.io'];
  if (!k8s?.namespace || !k8s.serviceaccount?.name) return undefined;
  if (claims.sub !== `${SERVICE_ACCOUNT_USER_PREFIX}${k8s.namespace}:${k8s.serviceaccount.name}`) return undefined;
  return {
    user: { username: claims.sub, uid: k8s.serviceaccount.uid, groups: [SERVICE_ACCOUNTS_GROUP, `${SERVICE_ACCOUNTS_GROUP}:${k8s.namespace}`] },
    audiences,
  };
}

/** Issues and verifies service account tokens with one key. */
export class ServiceAccountTokens {
  readonly issuer: string;
  readonly audiences: string[];
  readonly maxExpirationSeconds: number;
  readonly #key: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #kid: string;

  constructor(opts: ServiceAccountTokenOptions = {}) {
    this.issuer = opts.issuer ?? DEFAULT_ISSUER;
    this.audiences = opts.audiences ?? [this.issuer];
    this.maxExpirationSeconds = opts.maxExpirationSeconds ?? 48 * 3600;
    this.#key = opts.privateKeyPem ? createPrivateKey(opts.privateKeyPem) : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    this.#publicKey = createPublicKey(this.#key);
    // upstream's key id: sha256 of the DER public key, base64url
    this.#kid = b64url(createHash('sha256').update(this.#publicKey.export({ type: 'spki', format: 'der' })).digest());
  }

  issue(r: IssueRequest): { token: string; expiresAt: Date } {
    const iat = Math.floor(r.now.getTime() / 1000);
    const exp = iat + r.expirationSeconds;
    const claims: Claims = {
      aud: r.audiences,
      exp,
      iat,
      iss: this.issuer,
      jti: randomUUID(),
      'kubernetes.io': { namespace: r.namespace, serviceaccount: r.serviceAccount, ...(r.node ? { node: r.node } : {}), ...(r.pod ? { pod: r.pod } : {}) },
      nbf: iat,
      sub: `${SERVICE_ACCOUNT_USER_PREFIX}${r.namespace}:${r.serviceAccount.name}`,
    };
    const signingInput = `${b64url(JSON.stringify({ alg: 'ES256', kid: this.#kid }))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(signingInput), { key: this.#key, dsaEncoding: 'ieee-p1363' });
    return { token: `${signingInput}.${b64url(sig)}`, expiresAt: new Date(exp * 1000) };
  }

  verify(token: string, now: Date = new Date()): UserInfo | undefined {
    return this.review(token, this.audiences, now)?.user;
  }

  /** the token's user and which of `audiences` (default: the apiserver's own) it is for */
  review(token: string, audiences: readonly string[] = this.audiences, now: Date = new Date()): { user: UserInfo; audiences: string[] } | undefined {
    return reviewServiceAccountToken(token, { publicKey: this.#publicKey, issuer: this.issuer, audiences, now });
  }
}
