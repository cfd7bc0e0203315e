import { createHash } from 'node:crypto';
import { createRemoteJWKSet, customFetch, decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import { HedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { UserInfo } from './types.ts';
import { validateOidcOptions, type OidcOptions } from './oidc-options.ts';

export { OIDC_SIGNING_ALGS, validateOidcOptions, type OidcOptions } from './oidc-options.ts';

/** successful verifications are remembered this long at most (upstream's token cache: 10 s) */
const CACHE_TTL_MS = 10_000;
const CACHE_MAX = 4096;
/** discovery is retried this often until it succeeds (upstream: 10 s) */
const DISCOVERY_RETRY_MS = 10_000;

interface Discovered {
  jwks: ReturnType<typeof createRemoteJWKSet>;
}

/**
 * Verifies OIDC ID tokens as kube-apiserver's OIDC authenticator: discovery at
 * `<issuer>/.well-known/openid-configuration` (its `issuer` must equal the configured one; tried
 * in the background from the start and again on use until it answers), the JWKS it names (keys
 * re-fetched when a token names an unknown kid, at most every 30 s, and every 10 min), the
 * signature with one of the allowed algorithms, `iss`, `aud` ∋ clientId, `exp`/`nbf`, the
 * required claims, `email_verified` when the username is the email, then the user from the
 * claims. A verified token is remembered for 10 s (or until it expires, if sooner).
 */
export class OidcAuthenticator {
  readonly #o: Required<Omit<OidcOptions, 'ca' | 'groupsClaim'>> & Pick<OidcOptions, 'ca' | 'groupsClaim'>;
  readonly #log: Logger;
  readonly #dispatcher: Agent;
  readonly #fetch: typeof undiciFetch;
  #discovered: Discovered | undefined;
  #discovering: Promise<Discovered | undefined> | undefined;
  #lastAttempt = 0;
  readonly #cache = new Map<string, { user: UserInfo; until: number }>();
  #closed = false;
  #retry: NodeJS.Timeout | undefined;

  readonly #jwksCooldownMs: number | undefined;

  /** `testing.jwksCooldownMs`: how soon an unknown kid may fetch the JWKS again (jose's default 30 s) */
  constructor(opts: OidcOptions, log: Logger, testing: { jwksCooldownMs?: number } = {}) {
    this.#jwksCooldownMs = testing.jwksCooldownMs;
    const errs = validateOidcOptions(opts);
    if (errs.length) throw new HedgeError('Invalid', errs.join('; '));
    const usernameClaim = opts.usernameClaim ?? 'sub';
    const prefix = opts.usernamePrefix ?? (usernameClaim === 'email' ? '' : `${opts.issuerUrl}#`);
    this.#o = {
      issuerUrl: opts.issuerUrl,
      clientId: opts.clientId,
      usernameClaim,
      usernamePrefix: prefix === '-' ? '' : prefix,
      groupsClaim: opts.groupsClaim,
      groupsPrefix: opts.groupsPrefix ?? '',
      requiredClaims: opts.requiredClaims ?? {},
      ca: opts.ca,
      signingAlgs: opts.signingAlgs?.length ? opts.signingAlgs : ['RS256'],
    };
    this.#log = log;
    this.#dispatcher = new Agent({ connect: opts.ca ? { ca: opts.ca } : {}, connections: 2 });
    this.#fetch = (input, init) => undiciFetch(input, { ...init, dispatcher: this.#dispatcher });
  }

  /** starts discovery in the background, retrying until the provider answers */
  start(): void {
    const attempt = (): void => {
      if (this.#closed || this.#discovered) return;
      void this.#discover().then((d) => {
        if (!d && !this.#closed) this.#retry = setTimeout(attempt, DISCOVERY_RETRY_MS).unref();
      });
    };
    attempt();
  }

  /** idempotent */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#dispatcher.close();
  }

  /** whether `token` is a JWT this provider issued (by its unverified `iss`): others are not this authenticator's */
  handles(token: string): boolean {
    if (token.split('.').length !== 3) return false;
    try {
      return decodeJwt(token).iss === this.#o.issuerUrl;
    } catch {
      return false;
    }
  }

  /**
   * The token's user; throws HedgeError Unauthorized with the reason when the token is this
   * issuer's but not valid (call only when `handles(token)`).
   */
  async authenticate(token: string): Promise<UserInfo> {
    const key = createHash('sha256').update(token).digest('base64url');
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit && hit.until > now) return hit.user;
    if (hit) this.#cache.delete(key);
    const d = this.#discovered ?? (await this.#discoverNow());
    if (!d) throw new HedgeError('Unauthorized', 'oidc: authenticator not initialized (the provider\'s discovery document could not be fetched)');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, d.jwks, { issuer: this.#o.issuerUrl, audience: this.#o.clientId, algorithms: this.#o.signingAlgs, requiredClaims: ['exp'] }));
    } catch (err) {
      throw new HedgeError('Unauthorized', `oidc: verify token: ${describeJoseError(err)}`);
    }
    const user = this.#user(payload);
    const until = Math.min(now + CACHE_TTL_MS, (payload.exp ?? 0) * 1000);
    if (this.#cache.size >= CACHE_MAX) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(key, { user, until });
    return user;
  }

  #user(c: JWTPayload): UserInfo {
    for (const [claim, want] of Object.entries(this.#o.requiredClaims)) {
      if (!(claim in c)) throw new HedgeError('Unauthorized', `oidc: required claim ${claim} not present in ID token`);
      if (c[claim] !== want) throw new HedgeError('Unauthorized', `oidc: required claim ${claim} to have value ${want}`);
    }
    const uc = this.#o.usernameClaim;
    const name = c[uc];
    if (name === undefined) throw new HedgeError('Unauthorized', `oidc: parse username claims "${uc}": claim not present`);
    if (typeof name !== 'string' || name === '') throw new HedgeError('Unauthorized', `oidc: parse username claims "${uc}": not a non-empty string`);
    if (uc === 'email' && 'email_verified' in c && c.email_verified !== true) {
      throw new HedgeError('Unauthorized', typeof c.email_verified === 'boolean' ? 'oidc: email not verified' : "oidc: parse 'email_verified' claim: not a boolean");
    }
    const user: UserInfo = { username: this.#o.usernamePrefix + name, groups: [] };
    const gc = this.#o.groupsClaim;
    if (gc !== undefined && c[gc] !== undefined) {
      const g = c[gc];
      const groups = typeof g === 'string' ? [g] : Array.isArray(g) && g.every((x) => typeof x === 'string') ? (g as string[]) : undefined;
      if (!groups) throw new HedgeError('Unauthorized', `oidc: parse groups claim "${gc}": not a string or a list of strings`);
      user.groups = groups.map((x) => this.#o.groupsPrefix + x);
    }
    return user;
  }

  /** discovery now, unless an attempt failed less than a second ago (a burst of tokens while the provider is down) */
  #discoverNow(): Promise<Discovered | undefined> {
    if (Date.now() - this.#lastAttempt < 1000 && !this.#discovering) return Promise.resolve(undefined);
    return this.#discover();
  }

  #discover(): Promise<Discovered | undefined> {
    this.#discovering ??= (async () => {
      this.#lastAttempt = Date.now();
      const url = `${this.#o.issuerUrl.replace(/\/$/, '')}/.well-known/openid-configuration`;
      try {
        const res = await this.#fetch(url, { signal: AbortSignal.timeout(5000), redirect: 'error' });
        if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
        const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
        if (doc.issuer !== this.#o.issuerUrl) throw new Error(`oidc: issuer did not match the issuer returned by provider, expected "${this.#o.issuerUrl}" got "${String(doc.issuer)}"`);
        if (typeof doc.jwks_uri !== 'string') throw new Error(`${url}: no jwks_uri`);
        const jwksUrl = new URL(doc.jwks_uri);
        if (jwksUrl.protocol !== 'https:') throw new Error(`${url}: jwks_uri ${doc.jwks_uri} is not https`);
        const jwks = createRemoteJWKSet(jwksUrl, {
          ...(this.#jwksCooldownMs !== undefined ? { cooldownDuration: this.#jwksCooldownMs } : {}),
          // jose's fetch types are the DOM's, undici's its own: the same shapes at runtime
          [customFetch]: (u, init) => this.#fetch(u, init as unknown as Parameters<typeof undiciFetch>[1]) as unknown as Promise<Response>,
        });
        this.#discovered = { jwks };
        this.#log.info({ issuer: this.#o.issuerUrl, jwksUri: doc.jwks_uri }, 'oidc provider discovered');
        return this.#discovered;
      } catch (err) {
        this.#log.warn({ err: (err as Error).message, issuer: this.#o.issuerUrl }, 'oidc discovery failed');
        return undefined;
      } finally {
        this.#discovering = undefined;
      }
    })();
    return this.#discovering;
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token is expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `${err.claim}: ${err.message}`;
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key of the provider matches the token';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'failed to verify signature';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'the token\'s signing algorithm is not accepted';
  return err instanceof Error ? err.message : String(err);
}
