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
  /**
   * cap on a TokenRequest's expirationSeconds (upstream --service-account-max-token-expiration);
   * undefined or 0 = none beyond the 2^32 s validation limit, upstream's default
   */
  maxExpirationSeconds?: number;
  /**
   * upstream --service-account-extend-token-expiration (default true): a pod-bound token asked for
   * with the kubelet's WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS for the apiserver's own audiences
   * is issued for EXPIRATION_EXTENSION_SECONDS, with a `warnafter` claim at the requested time
   */
  extendExpiration?: boolean;
}

/** what the kubelet asks for a projected token (an hour and 7 s: upstream's marker for the extension) */
export const WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS = 3607;
/** how long such a token is issued for (upstream's ExpirationExtensionSeconds: a year) */
export const EXPIRATION_EXTENSION_SECONDS = 365 * 24 * 60 * 60;

export interface IssueRequest {
  namespace: string;
  serviceAccount: { name: string; uid: string };
  audiences: string[];
  expirationSeconds: number;
  /** the object the token is bound to (upstream: a pod, else a secret; a node with either or alone) */
  pod?: ObjectRef;
  secret?: ObjectRef;
  node?: ObjectRef;
  now: Date;
  /** `kubernetes.io.warnafter`: seconds after `now` from which a use counts as stale (the extension) */
  warnAfterSeconds?: number;
}

export interface ObjectRef {
  name: string;
  uid: string;
}

/** upstream's `kubernetes.io` private claims (pkg/serviceaccount/claims.go) */
export interface BoundClaims {
  namespace: string;
  serviceaccount: ObjectRef;
  pod?: ObjectRef;
  secret?: ObjectRef;
  node?: ObjectRef;
  /** unix seconds: the token outlived what was asked for (an extended token, see `extendExpiration`) */
  warnafter?: number;
}

interface Claims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  'kubernetes.io': BoundClaims;
}

/** The issuer of secret-based tokens (upstream serviceaccount.LegacyIssuer). */
export const LEGACY_ISSUER = 'kubernetes/serviceaccount';

/** upstream's legacyPrivateClaims: what a tokens controller wrote into a service-account-token Secret */
export interface LegacyClaims {
  namespace: string;
  serviceAccount: ObjectRef;
  secretName: string;
}

/** A token whose signature, issuer, time window and audiences were checked; its objects are not yet. */
export type DecodedToken =
  | { kind: 'bound'; user: UserInfo; audiences: string[]; claims: BoundClaims; jti?: string }
  | { kind: 'legacy'; user: UserInfo; audiences: string[]; claims: LegacyClaims };

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
  /** the audiences a token that names none (a legacy one) is for: the apiserver's own */
  implicitAudiences?: readonly string[];
  now: Date;
}

/** Why a token is not one of ours, or not now: for the log and TokenReview's status.error. */
const INVALID = 'invalid bearer token';

export type DecodeResult = { ok: true; token: DecodedToken } | { ok: false; reason: string; foreign?: true };

/** not a JWT of our issuers: not ours to judge (the request is unauthenticated, not in error) */
const FOREIGN: DecodeResult = { ok: false, reason: INVALID, foreign: true };

// upstream's ref has `omitempty` on both: a pod's node that was not found is named without a UID
const isRef = (r: unknown): r is ObjectRef =>
  typeof r === 'object' && r !== null && typeof (r as ObjectRef).name === 'string' && ['string', 'undefined'].includes(typeof (r as Partial<ObjectRef>).uid);
const optionalRef = (r: unknown): boolean => r === undefined || isRef(r);
const saGroups = (namespace: string): string[] => [SERVICE_ACCOUNTS_GROUP, `${SERVICE_ACCOUNTS_GROUP}:${namespace}`];

/** upstream's user.Info extra keys for a service account (k8s.io/apiserver/pkg/authentication/serviceaccount) */
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';
export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
export const NODE_UID_EXTRA = 'authentication.kubernetes.io/node-uid';
export const CREDENTIAL_ID_EXTRA = 'authentication.kubernetes.io/credential-id';

/** upstream's CredentialIDForJTI */
export const credentialIdForJti = (jti: string): string => (jti === '' ? '' : `JTI=${jti}`);

/**
 * upstream's ServiceAccountInfo.UserInfo(): the pod (name and UID both), the credential id and
 * the node (its UID only with its name) a bound token names, as the user's extra. Which of them a
 * token carries is the claims' business: a pod-bound token's node is information only, a
 * node-bound one's is checked by token-validator.ts before this user is used.
 */
function boundExtra(c: BoundClaims, jti: string): Record<string, string[]> | undefined {
  const extra: Record<string, string[]> = {};
  if (c.pod && c.pod.name !== '' && c.pod.uid !== '') {
    extra[POD_NAME_EXTRA] = [c.pod.name];
    extra[POD_UID_EXTRA] = [c.pod.uid];
  }
  const credentialId = credentialIdForJti(jti);
  if (credentialId !== '') extra[CREDENTIAL_ID_EXTRA] = [credentialId];
  if (c.node && c.node.name !== '') {
    extra[NODE_NAME_EXTRA] = [c.node.name];
    if (c.node.uid !== '') extra[NODE_UID_EXTRA] = [c.node.uid];
  }
  return Object.keys(extra).length > 0 ? extra : undefined;
}

/**
 * The user a service account token stands for, or undefined when it is not one of ours or is
 * expired / for another audience. Only the token itself is checked: whether its service account
 * and bound object still exist is token-validator.ts's part.
 */
export function verifyServiceAccountToken(token: string, opts: VerifyOptions): UserInfo | undefined {
  const r = decodeServiceAccountToken(token, opts);
  return r.ok ? r.token.user : undefined;
}

/**
 * Signature (ES256, our key), then the claims as upstream's JWT authenticator and validators
 * read them: a bound token (issuer `opts.issuer`, `kubernetes.io` claims, exp/nbf with upstream's
 * one minute of leeway for nbf) or a legacy secret-based one (issuer kubernetes/serviceaccount,
 * no expiry, valid for the implicit audiences only). `audiences` are those asked for; the answer
 * carries the ones the token is valid for (upstream's intersection).
 */
export function decodeServiceAccountToken(token: string, opts: VerifyOptions): DecodeResult {
  const parts = token.split('.');
  if (parts.length !== 3) return FOREIGN;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return FOREIGN;
  }
  // upstream's hasCorrectIssuer: a JWT of another issuer is someone else's to judge, not an error
  if (typeof raw !== 'object' || raw === null || (raw.iss !== opts.issuer && raw.iss !== LEGACY_ISSUER)) return FOREIGN;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as { alg?: string };
    if (header.alg !== 'ES256') return { ok: false, reason: INVALID };
    const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: opts.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
    if (!ok) return { ok: false, reason: INVALID };
  } catch {
    return { ok: false, reason: INVALID };
  }
  if (raw.iss === LEGACY_ISSUER) return decodeLegacy(raw, opts);
  const claims = raw as unknown as Claims;
  const nowSec = Math.floor(opts.now.getTime() / 1000);
  if (typeof claims.exp !== 'number' || nowSec >= claims.exp) return { ok: false, reason: 'service account token has expired' };
  if (typeof claims.nbf === 'number' && nowSec + 60 < claims.nbf) return { ok: false, reason: 'service account token is not valid yet' };
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  const audiences = opts.audiences.filter((a) => aud.includes(a));
  if (audiences.length === 0) return { ok: false, reason: `token audiences ${JSON.stringify(aud)} is invalid for the target audiences ${JSON.stringify(opts.audiences)}` };
  const k8s = claims['kubernetes.io'];
  if (typeof k8s !== 'object' || k8s === null || !k8s.namespace || !isRef(k8s.serviceaccount) || !k8s.serviceaccount.name) return { ok: false, reason: 'service account token claims could not be validated' };
  if (!optionalRef(k8s.pod) || !optionalRef(k8s.secret) || !optionalRef(k8s.node)) return { ok: false, reason: 'service account token claims could not be validated' };
  if (claims.sub !== `${SERVICE_ACCOUNT_USER_PREFIX}${k8s.namespace}:${k8s.serviceaccount.name}`) return { ok: false, reason: 'sub claim is invalid' };
  const ref = (r: ObjectRef): ObjectRef => ({ name: r.name, uid: r.uid ?? '' });
  const bound: BoundClaims = { namespace: k8s.namespace, serviceaccount: ref(k8s.serviceaccount) };
  if (k8s.pod) bound.pod = ref(k8s.pod);
  if (k8s.secret) bound.secret = ref(k8s.secret);
  if (k8s.node) bound.node = ref(k8s.node);
  if (typeof k8s.warnafter === 'number' && k8s.warnafter > 0) bound.warnafter = k8s.warnafter;
  const jti = typeof claims.jti === 'string' ? claims.jti : '';
  const user: UserInfo = { username: claims.sub, uid: k8s.serviceaccount.uid, groups: saGroups(k8s.namespace) };
  const extra = boundExtra(bound, jti);
  if (extra) user.extra = extra;
  return { ok: true, token: { kind: 'bound', user, audiences, claims: bound, ...(jti !== '' ? { jti } : {}) } };
}

/** upstream legacy.go: every claim present and the subject made of them */
function decodeLegacy(raw: Record<string, unknown>, opts: VerifyOptions): DecodeResult {
  const str = (k: string): string => (typeof raw[k] === 'string' ? (raw[k] as string) : '');
  const sub = str('sub');
  const namespace = str('kubernetes.io/serviceaccount/namespace');
  const secretName = str('kubernetes.io/serviceaccount/secret.name');
  const name = str('kubernetes.io/serviceaccount/service-account.name');
  const uid = str('kubernetes.io/serviceaccount/service-account.uid');
  if (sub === '') return { ok: false, reason: 'sub claim is missing' };
  if (namespace === '') return { ok: false, reason: 'namespace claim is missing' };
  if (secretName === '') return { ok: false, reason: 'secretName claim is missing' };
  if (name === '') return { ok: false, reason: 'serviceAccountName claim is missing' };
  if (uid === '') return { ok: false, reason: 'serviceAccountUID claim is missing' };
  if (sub !== `${SERVICE_ACCOUNT_USER_PREFIX}${namespace}:${name}`) return { ok: false, reason: 'sub claim is invalid' };
  // a legacy token names no audience: it is for the apiserver's own (upstream's jwt.go)
  const implicit = opts.implicitAudiences ?? [opts.issuer];
  const audiences = opts.audiences.filter((a) => implicit.includes(a));
  if (audiences.length === 0) return { ok: false, reason: `token audiences ${JSON.stringify(implicit)} is invalid for the target audiences ${JSON.stringify(opts.audiences)}` };
  return { ok: true, token: { kind: 'legacy', user: { username: sub, uid, groups: saGroups(namespace) }, audiences, claims: { namespace, serviceAccount: { name, uid }, secretName } } };
}

/** Issues and verifies service account tokens with one key. */
export class ServiceAccountTokens {
  readonly issuer: string;
  readonly audiences: string[];
  readonly maxExpirationSeconds: number;
  readonly extendExpiration: boolean;
  readonly #key: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #kid: string;

  constructor(opts: ServiceAccountTokenOptions = {}) {
    this.issuer = opts.issuer ?? DEFAULT_ISSUER;
    this.audiences = opts.audiences ?? [this.issuer];
    this.maxExpirationSeconds = opts.maxExpirationSeconds ?? 0;
    this.extendExpiration = opts.extendExpiration ?? true;
    this.#key = opts.privateKeyPem ? createPrivateKey(opts.privateKeyPem) : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    this.#publicKey = createPublicKey(this.#key);
    // upstream's key id: sha256 of the DER public key, base64url
    this.#kid = b64url(createHash('sha256').update(this.#publicKey.export({ type: 'spki', format: 'der' })).digest());
  }

  issue(r: IssueRequest): { token: string; expiresAt: Date; jti: string } {
    const iat = Math.floor(r.now.getTime() / 1000);
    const exp = iat + r.expirationSeconds;
    const k8s: BoundClaims = { namespace: r.namespace, serviceaccount: r.serviceAccount };
    // upstream's Claims(): a pod, else a secret; the node beside either, or alone
    if (r.pod) k8s.pod = r.pod;
    else if (r.secret) k8s.secret = r.secret;
    if (r.node) k8s.node = r.node.uid === '' ? ({ name: r.node.name } as ObjectRef) : r.node;
    if (r.warnAfterSeconds !== undefined) k8s.warnafter = iat + r.warnAfterSeconds;
    const jti = randomUUID();
    const claims: Claims = {
      aud: r.audiences,
      exp,
      iat,
      iss: this.issuer,
      jti,
      'kubernetes.io': k8s,
      nbf: iat,
      sub: `${SERVICE_ACCOUNT_USER_PREFIX}${r.namespace}:${r.serviceAccount.name}`,
    };
    return { token: this.#sign(claims), expiresAt: new Date(exp * 1000), jti };
  }

  /**
   * A secret-based token as upstream's tokens controller writes into a
   * kubernetes.io/service-account-token Secret (LegacyClaims: no expiry, no audience).
   */
  issueLegacy(r: { namespace: string; serviceAccount: ObjectRef; secretName: string }): string {
    return this.#sign({
      iss: LEGACY_ISSUER,
      'kubernetes.io/serviceaccount/namespace': r.namespace,
      'kubernetes.io/serviceaccount/secret.name': r.secretName,
      'kubernetes.io/serviceaccount/service-account.name': r.serviceAccount.name,
      'kubernetes.io/serviceaccount/service-account.uid': r.serviceAccount.uid,
      sub: `${SERVICE_ACCOUNT_USER_PREFIX}${r.namespace}:${r.serviceAccount.name}`,
    });
  }

  #sign(claims: object): string {
    const signingInput = `${b64url(JSON.stringify({ alg: 'ES256', kid: this.#kid }))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(signingInput), { key: this.#key, dsaEncoding: 'ieee-p1363' });
    return `${signingInput}.${b64url(sig)}`;
  }

  /** the token's user when its signature and claims hold for the apiserver's audiences (its objects unchecked) */
  verify(token: string, now: Date = new Date()): UserInfo | undefined {
    const r = this.decode(token, this.audiences, now);
    return r.ok ? r.token.user : undefined;
  }

  /** the token's signature and claims, for `audiences` (default: the apiserver's own); its objects are token-validator.ts's */
  decode(token: string, audiences: readonly string[] = this.audiences, now: Date = new Date()): DecodeResult {
    return decodeServiceAccountToken(token, { publicKey: this.#publicKey, issuer: this.issuer, audiences, implicitAudiences: this.audiences, now });
  }
}
