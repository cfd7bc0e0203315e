import { timingSafeEqual } from 'node:crypto';
import type { KubeObject } from '../../api/object.ts';
import type { UserInfo } from '../auth/types.ts';
import type { BoundClaims, DecodedToken, LegacyClaims, ServiceAccountTokens } from './token-signer.ts';

/**
 * The objects a service account token is checked against (upstream ServiceAccountTokenGetter).
 * The apiserver's is cache-first (server.ts: the caches that follow the store), with a store read
 * only when the cache has no such object, as upstream's getter falls back from its listers to a
 * live get (an object created a moment ago may not be in the cache yet).
 */
export interface TokenObjectGetter {
  serviceAccount(namespace: string, name: string): Promise<KubeObject | undefined>;
  pod(namespace: string, name: string): Promise<KubeObject | undefined>;
  secret(namespace: string, name: string): Promise<KubeObject | undefined>;
  node(name: string): Promise<KubeObject | undefined>;
}

/** `foreign`: not a token of our issuers at all (another authenticator's, or none) */
/** `staleSeconds`: an extended token (token-signer.ts `extendExpiration`) used this long after its `warnafter` */
export type TokenValidation = { ok: true; user: UserInfo; audiences: string[]; staleSeconds?: number } | { ok: false; reason: string; foreign?: true };

/** upstream's jwt.DefaultLeeway: a bound object deleted less than this ago still counts */
export const DELETION_LEEWAY_MS = 60_000;
/** what the secret of a legacy token holds it under (v1.ServiceAccountTokenKey) */
const TOKEN_KEY = 'token';
export const SERVICE_ACCOUNT_TOKEN_TYPE = 'kubernetes.io/service-account-token';
/** a Secret marked so by upstream's legacy token cleaner no longer authenticates */
export const LEGACY_TOKEN_INVALID_SINCE_LABEL = 'kubernetes.io/legacy-token-invalid-since';
/** the day (UTC, YYYY-MM-DD) a legacy token was last used to authenticate (upstream legacy.go) */
export const LEGACY_TOKEN_LAST_USED_LABEL = 'kubernetes.io/legacy-token-last-used';
/** a service-account-token Secret's account (v1.ServiceAccountNameKey / ServiceAccountUIDKey) */
export const SERVICE_ACCOUNT_NAME_ANNOTATION = 'kubernetes.io/service-account.name';
export const SERVICE_ACCOUNT_UID_ANNOTATION = 'kubernetes.io/service-account.uid';

/** records that a legacy token's Secret was used on `day` (the apiserver patches its label) */
export type LegacyTokenUseRecorder = (secret: { namespace: string; name: string; uid: string }, day: string) => void;

const utcDay = (d: Date): string => d.toISOString().slice(0, 10);

const INVALIDATED = 'service account token has been invalidated';

function deletedBefore(obj: KubeObject, cutoffMs: number): boolean {
  const ts = obj.metadata.deletionTimestamp;
  return typeof ts === 'string' && Date.parse(ts) < cutoffMs;
}

/**
 * A service account token as upstream's validators judge it (pkg/serviceaccount/claims.go and
 * legacy.go): the signature and claims (token-signer.ts), then the objects it names. A bound
 * (TokenRequest) token needs its ServiceAccount with the token's UID, not deleted more than a
 * minute ago, and its bound secret / pod (or node, when no pod) present with the token's UID and
 * not deleted more than a minute ago. A legacy token needs its Secret present, not being
 * deleted, not marked invalid, holding exactly this token, and its ServiceAccount with the UID of
 * the token, not being deleted. A reason is returned, never thrown: the caller logs it (a 401
 * says only Unauthorized, as upstream) or puts it in TokenReview's status.error.
 */
export class ServiceAccountTokenValidator {
  readonly #tokens: ServiceAccountTokens;
  readonly #get: TokenObjectGetter;
  readonly #now: () => Date;
  readonly #recordUse: LegacyTokenUseRecorder | undefined;
  /** secret uid → the day its use was last recorded: the cache may not show the label yet */
  readonly #recorded = new Map<string, string>();

  constructor(opts: { tokens: ServiceAccountTokens; getter: TokenObjectGetter; now?: () => Date; recordLegacyTokenUse?: LegacyTokenUseRecorder }) {
    this.#tokens = opts.tokens;
    this.#get = opts.getter;
    this.#now = opts.now ?? (() => new Date());
    this.#recordUse = opts.recordLegacyTokenUse;
  }

  /** the token's user and which of `audiences` (default: the apiserver's own) it is valid for */
  async validate(token: string, audiences: readonly string[] = this.#tokens.audiences): Promise<TokenValidation> {
    const now = this.#now();
    const decoded = this.#tokens.decode(token, audiences, now);
    if (!decoded.ok) return decoded;
    const reason = await this.#objectsReason(token, decoded.token, now);
    if (reason !== undefined) return { ok: false, reason };
    const warnafter = decoded.token.kind === 'bound' ? decoded.token.claims.warnafter : undefined;
    const nowSec = Math.floor(now.getTime() / 1000);
    const stale = warnafter !== undefined && nowSec > warnafter ? { staleSeconds: nowSec - warnafter } : {};
    return { ok: true, user: decoded.token.user, audiences: decoded.token.audiences, ...stale };
  }

  #objectsReason(token: string, t: DecodedToken, now: Date): Promise<string | undefined> {
    switch (t.kind) {
      case 'bound':
        return this.#boundReason(t.claims, now.getTime() - DELETION_LEEWAY_MS);
      case 'legacy':
        return this.#legacyReason(token, t.claims, now);
    }
  }

  async #boundReason(c: BoundClaims, cutoffMs: number): Promise<string | undefined> {
    const ns = c.namespace;
    const sa = await this.#get.serviceAccount(ns, c.serviceaccount.name);
    if (!sa) return `serviceaccounts "${c.serviceaccount.name}" not found`;
    if (sa.metadata.uid !== c.serviceaccount.uid) return `service account UID (${sa.metadata.uid ?? ''}) does not match claim (${c.serviceaccount.uid})`;
    if (deletedBefore(sa, cutoffMs)) return `service account ${ns}/${c.serviceaccount.name} has been deleted`;
    if (c.secret) {
      const secret = await this.#get.secret(ns, c.secret.name);
      if (!secret) return INVALIDATED;
      if (secret.metadata.uid !== c.secret.uid) return `secret UID (${secret.metadata.uid ?? ''}) does not match service account secret ref claim (${c.secret.uid})`;
      if (deletedBefore(secret, cutoffMs)) return INVALIDATED;
    }
    if (c.pod) {
      const pod = await this.#get.pod(ns, c.pod.name);
      if (!pod) return INVALIDATED;
      if (pod.metadata.uid !== c.pod.uid) return `pod UID (${pod.metadata.uid ?? ''}) does not match service account pod ref claim (${c.pod.uid})`;
      if (deletedBefore(pod, cutoffMs)) return INVALIDATED;
    } else if (c.node) {
      // a pod-bound token's node claim is information only; a node-bound one needs its node
      const node = await this.#get.node(c.node.name);
      if (!node) return INVALIDATED;
      if (node.metadata.uid !== c.node.uid) return `node UID (${node.metadata.uid ?? ''}) does not match service account node ref claim (${c.node.uid})`;
      if (deletedBefore(node, cutoffMs)) return INVALIDATED;
    }
    return undefined;
  }

  async #legacyReason(token: string, c: LegacyClaims, now: Date): Promise<string | undefined> {
    const ns = c.namespace;
    const secret = await this.#get.secret(ns, c.secretName);
    // legacy.go: any deletionTimestamp, no leeway
    if (!secret || secret.metadata.deletionTimestamp) return 'Token has been invalidated';
    const held = (secret.data as Record<string, unknown> | undefined)?.[TOKEN_KEY];
    const heldBytes = typeof held === 'string' ? Buffer.from(held, 'base64') : Buffer.alloc(0);
    const given = Buffer.from(token, 'utf8');
    if (heldBytes.length !== given.length || !timingSafeEqual(heldBytes, given)) return "Token does not match server's copy";
    const sa = await this.#get.serviceAccount(ns, c.serviceAccount.name);
    if (!sa) return `serviceaccounts "${c.serviceAccount.name}" not found`;
    if (sa.metadata.deletionTimestamp) return `ServiceAccount ${ns}/${c.serviceAccount.name} has been deleted`;
    if (sa.metadata.uid !== c.serviceAccount.uid) return `ServiceAccount UID (${sa.metadata.uid ?? ''}) does not match claim (${c.serviceAccount.uid})`;
    // upstream records the use of a token marked invalid too: the label says someone still tries it
    this.#recordLegacyUse(secret, now);
    if (secret.metadata.labels?.[LEGACY_TOKEN_INVALID_SINCE_LABEL]) {
      return `the token in secret ${ns}/${c.secretName} for service account ${ns}/${c.serviceAccount.name} has been marked invalid. Use tokens from the TokenRequest API or manually created secret-based tokens, or remove the '${LEGACY_TOKEN_INVALID_SINCE_LABEL}' label from the secret to temporarily allow use of this token`;
    }
    return undefined;
  }

  /**
   * upstream's patchSecretWithLastUsedDate: the label is written at most once a day (a label of
   * today, or of tomorrow from a server whose clock runs ahead, is left alone).
   */
  #recordLegacyUse(secret: KubeObject, now: Date): void {
    if (!this.#recordUse) return;
    const today = utcDay(now);
    const tomorrow = utcDay(new Date(now.getTime() + 86_400_000));
    const uid = secret.metadata.uid ?? '';
    const seen = secret.metadata.labels?.[LEGACY_TOKEN_LAST_USED_LABEL] ?? this.#recorded.get(uid);
    if (seen === today || seen === tomorrow) return;
    if (this.#recorded.size > 10_000) this.#recorded.clear();
    this.#recorded.set(uid, today);
    this.#recordUse({ namespace: secret.metadata.namespace ?? '', name: secret.metadata.name ?? '', uid }, today);
  }
}

/**
 * What the apiserver's Node cache keeps of a Node: what a node-bound token is checked against
 * (its UID, its deletion). A fleet's Nodes are large (images, conditions, addresses): kept whole,
 * each also stayed parsed in the decode cache, ~100 objects per Node that every major GC marks.
 */
export function tokenNodeFields(obj: KubeObject): KubeObject {
  const { name, uid, deletionTimestamp } = obj.metadata;
  const metadata: KubeObject['metadata'] = { name, uid };
  if (deletionTimestamp) metadata.deletionTimestamp = deletionTimestamp;
  return { apiVersion: 'v1', kind: 'Node', metadata };
}

/**
 * What the apiserver's Secret cache keeps of a Secret: identity, deletion, and of
 * service-account-token Secrets the legacy token labels, the account annotations and the token
 * (the validator's and the tokens controller's part). Every Secret may be a bound object, but
 * none but those needs its payload in the apiserver's memory.
 */
export function tokenSecretFields(obj: KubeObject): KubeObject {
  const { name, namespace, uid, deletionTimestamp, labels, annotations } = obj.metadata;
  const metadata: KubeObject['metadata'] = { name, namespace, uid };
  if (deletionTimestamp) metadata.deletionTimestamp = deletionTimestamp;
  const out: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata, type: obj.type };
  if (obj.type !== SERVICE_ACCOUNT_TOKEN_TYPE) return out;
  const pick = (from: Record<string, string> | undefined, keys: string[]): Record<string, string> | undefined => {
    const kept = Object.fromEntries(keys.filter((k) => from?.[k] !== undefined).map((k) => [k, from![k]]));
    return Object.keys(kept).length > 0 ? kept : undefined;
  };
  const keptLabels = pick(labels, [LEGACY_TOKEN_INVALID_SINCE_LABEL, LEGACY_TOKEN_LAST_USED_LABEL]);
  if (keptLabels) metadata.labels = keptLabels;
  const keptAnnotations = pick(annotations, [SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_UID_ANNOTATION]);
  if (keptAnnotations) metadata.annotations = keptAnnotations;
  const token = (obj.data as Record<string, unknown> | undefined)?.[TOKEN_KEY];
  if (typeof token === 'string') out.data = { [TOKEN_KEY]: token };
  return out;
}
