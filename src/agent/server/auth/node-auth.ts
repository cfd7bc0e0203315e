import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import { HedgeError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { timeoutSignal, whenAborted } from '../../../lib/signals.ts';
import type { NodeServerAuth } from '../types.ts';
import type { AccessDecision, AccessReviews, NodeUser } from './access-reviews.ts';
import { nodeRequestAttributes, type NodeRequestAttributes } from './request-attributes.ts';
import { ReviewCache } from './review-cache.ts';
import type { Registry } from '../../../lib/prom.ts';
import { NodeAuthMetrics, type DelegatedReview } from './auth-metrics.ts';

/** How long answers are kept and how long the cloud is waited for. */
export interface NodeAuthTuning {
  /** a token the cloud said is valid (kubelet authentication.webhook.cacheTTL: 2 min) */
  authenticatedTtlMs: number;
  /** a token the cloud said is not */
  unauthenticatedTtlMs: number;
  /** an allowed SubjectAccessReview (kubelet authorization.webhook.cacheAuthorizedTTL: 5 min) */
  allowedTtlMs: number;
  /** a denied one (cacheUnauthorizedTTL: 30 s) */
  deniedTtlMs: number;
  /** answers kept per kind (tokens, access) */
  maxEntries: number;
  /** a review not answered by then is a 503, not a request left hanging */
  reviewTimeoutMs: number;
}

export const DEFAULT_NODE_AUTH_TUNING: NodeAuthTuning = {
  authenticatedTtlMs: 120_000,
  unauthenticatedTtlMs: 30_000,
  allowedTtlMs: 300_000,
  deniedTtlMs: 30_000,
  maxEntries: 8192,
  reviewTimeoutMs: 5_000,
};

/**
 * Every kube-apiserver allows this group anything before any other authorizer is asked (its
 * privileged-group authorizer is not configurable), so a SubjectAccessReview for it is known to
 * say yes: it is answered here, without the round trip, online or not.
 */
export const MASTERS_GROUP = 'system:masters';
const ANONYMOUS: NodeUser = { username: 'system:anonymous', groups: ['system:unauthenticated'] };
/** who a token of `NodeServerAuth.tokens` is */
const STATIC_TOKEN_USER: NodeUser = { username: 'node-server-token', groups: ['system:authenticated'] };
/** who `NodeServerAuth.localToken` is: the node's own edgehub, as privileged on this node as the apiserver */
export const LOCAL_HUB_USER: NodeUser = { username: 'system:hedge-edgehub', groups: [MASTERS_GROUP, 'system:authenticated'] };

/** equal tokens, compared in constant time (as digests: the lengths may differ) */
function sameToken(a: string, b: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

export interface NodeRequestAuthOptions {
  auth: NodeServerAuth;
  /** the Node this server is: the name every request is authorized against */
  nodeName: string;
  /** the cloud's reviews; required for authorization Webhook */
  reviews?: AccessReviews;
  tuning?: Partial<NodeAuthTuning>;
  now: () => number;
  logger: Logger;
  /** aborted when the server closes: reviews still out end with it */
  signal: AbortSignal;
  /** where the delegated review metrics go (the node's /metrics) */
  metrics?: Registry;
}

const unauthorized = (): HedgeError => new HedgeError('Unauthorized', 'Unauthorized');

/** `Authorization: Bearer <token>`; anything else is no token (upstream's bearertoken authenticator) */
function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

function asList(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/**
 * The node server's authentication and authorization, the kubelet's with
 * `--authentication-token-webhook --authorization-mode=Webhook`: a client certificate that
 * verified against the cluster CA is its CN with its Os as groups; a bearer token is whoever the
 * cloud's TokenReview says; no credentials is 401 unless anonymous requests are enabled. Then
 * the request's attributes (request-attributes.ts) go to a SubjectAccessReview. Answers are
 * cached (review-cache.ts); when the cloud cannot be asked, a request whose answer is not cached
 * is a 503 within `reviewTimeoutMs`.
 */
export class NodeRequestAuth {
  readonly #opts: NodeRequestAuthOptions;
  readonly #tuning: NodeAuthTuning;
  readonly #tokens: ReviewCache<NodeUser | undefined>;
  readonly #access: ReviewCache<AccessDecision>;
  readonly #log: Logger;
  readonly #metrics: NodeAuthMetrics | undefined;
  /** one TLS connection carries many requests: its certificate's user is worked out once */
  readonly #certUsers = new WeakMap<TLSSocket, NodeUser | null>();

  constructor(opts: NodeRequestAuthOptions) {
    if (opts.auth.authorization === 'Webhook' && (opts.reviews === undefined || opts.nodeName === '')) {
      throw new HedgeError('Invalid', 'node server: authorization Webhook needs the node name and the cloud reviews (TokenReview, SubjectAccessReview)');
    }
    this.#opts = opts;
    this.#tuning = { ...DEFAULT_NODE_AUTH_TUNING, ...opts.tuning };
    this.#tokens = new ReviewCache({ maxEntries: this.#tuning.maxEntries, now: opts.now });
    this.#access = new ReviewCache({ maxEntries: this.#tuning.maxEntries, now: opts.now });
    this.#log = opts.logger;
    this.#metrics = opts.metrics ? new NodeAuthMetrics(opts.metrics) : undefined;
  }

  /**
   * Who sent `req` and what it asks, once it may go on. `path` is the normalized pathname the
   * server routes by. Throws Unauthorized (401), Forbidden (403), or Unavailable (503: the cloud
   * could not be asked).
   */
  async admit(req: IncomingMessage, path: string): Promise<{ user: NodeUser; attrs: NodeRequestAttributes }> {
    const user = await this.authenticate(req);
    const attrs = nodeRequestAttributes(this.#opts.nodeName, req.method ?? 'GET', path);
    await this.authorize(user, attrs);
    return { user, attrs };
  }

  async authenticate(req: IncomingMessage): Promise<NodeUser> {
    const { auth } = this.#opts;
    const cert = auth.clientCerts && req.socket instanceof TLSSocket ? this.#certificateUser(req.socket) : undefined;
    if (cert) return cert;
    const token = bearerToken(req.headers.authorization);
    if (token !== undefined) {
      if (auth.localToken !== undefined && auth.localToken !== '' && sameToken(token, auth.localToken)) return LOCAL_HUB_USER;
      if (auth.tokens?.has(token)) return STATIC_TOKEN_USER;
      // an invalid token is a 401 even where anonymous requests are let in (upstream fails on it)
      const user = auth.authorization === 'Webhook' ? await this.#reviewToken(token) : undefined;
      if (user) return user;
      throw unauthorized();
    }
    if (auth.anonymous) return ANONYMOUS;
    throw unauthorized();
  }

  async authorize(user: NodeUser, attrs: NodeRequestAttributes): Promise<void> {
    if (this.#opts.auth.authorization === 'AlwaysAllow' || user.groups.includes(MASTERS_GROUP)) return;
    const decision = await this.#reviewAccess(user, attrs);
    if (decision.allowed) return;
    this.#log.debug({ user: user.username, verb: attrs.verb, subresource: attrs.subresource, path: attrs.path, reason: decision.reason }, 'node server request forbidden');
    throw new HedgeError('Forbidden', `Forbidden (user=${user.username}, verb=${attrs.verb}, resource=${attrs.resource}, subresource=${attrs.subresource})`, {
      details: { kind: attrs.resource, name: attrs.name },
    });
  }

  /** the certificate's user, when the TLS layer verified it against the CA the server was given */
  #certificateUser(sock: TLSSocket): NodeUser | undefined {
    const known = this.#certUsers.get(sock);
    if (known !== undefined) return known ?? undefined;
    let user: NodeUser | null = null;
    if (sock.authorized) {
      // the subject's fields as the TLS layer splits them (a multi-valued O is a list)
      const subject = sock.getPeerCertificate().subject as { CN?: string | string[]; O?: string | string[] } | undefined;
      const cn = asList(subject?.CN)[0];
      if (cn !== undefined && cn !== '') user = { username: cn, groups: asList(subject?.O) };
    }
    this.#certUsers.set(sock, user);
    return user ?? undefined;
  }

  #reviewToken(token: string): Promise<NodeUser | undefined> {
    // keyed by a digest: the cache holds no bearer token
    const key = createHash('sha256').update(token).digest('base64');
    const t = this.#tuning;
    return this.#tokens.get(key, () => this.#ask('TokenReview', 'authn', 'cannot authenticate the bearer token now', (signal) => this.#opts.reviews!.reviewToken(token, signal)), (user) =>
      user ? t.authenticatedTtlMs : t.unauthenticatedTtlMs,
    );
  }

  #reviewAccess(user: NodeUser, attrs: NodeRequestAttributes): Promise<AccessDecision> {
    const extra = Object.entries(user.extra ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = JSON.stringify([user.username, user.uid ?? '', [...user.groups].sort(), extra, attrs.verb, attrs.resource, attrs.subresource, attrs.name]);
    const what = `user=${user.username}, verb=${attrs.verb}, resource=${attrs.resource}, subresource=${attrs.subresource}`;
    const t = this.#tuning;
    return this.#access.get(key, () => this.#ask('SubjectAccessReview', 'authz', `cannot authorize (${what}) now`, (signal) => this.#opts.reviews!.reviewAccess(user, attrs, signal)), (d) =>
      d.allowed ? t.allowedTtlMs : t.deniedTtlMs,
    );
  }

  /** one review, bounded in time; any failure is a 503 saying what could not be done */
  async #ask<T>(review: string, kind: DelegatedReview, cannot: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = timeoutSignal(this.#opts.signal, this.#tuning.reviewTimeoutMs);
    let forget = (): void => undefined;
    const start = performance.now();
    try {
      // raced with the signal: the bound holds even for a client that would not stop
      const answer = await new Promise<T>((resolve, reject) => {
        forget = whenAborted(signal, reject);
        call(signal).then(resolve, reject);
      });
      this.#metrics?.record(kind, (performance.now() - start) / 1000, { answered: true });
      return answer;
    } catch (err) {
      this.#metrics?.record(kind, (performance.now() - start) / 1000, { err, answered: !signal.aborted });
      const why = signal.aborted && !this.#opts.signal.aborted ? `no answer within ${this.#tuning.reviewTimeoutMs} ms` : (err as Error).message;
      this.#log.warn({ err, review }, `${review} failed`);
      throw new HedgeError('Unavailable', `${cannot}: ${review} failed: ${why}`, { cause: err });
    } finally {
      forget();
      signal.clear();
    }
  }
}
