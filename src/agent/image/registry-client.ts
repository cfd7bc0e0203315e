import type { Readable } from 'node:stream';
import { HedgeError, type ErrorCode } from '../../lib/errors.ts';
import { httpRequest, type HttpAgent, type ResponseBody } from '../../lib/http/request.ts';
import { parseAuthChallenges } from './auth-challenge.ts';
import { sha256Digest } from './digest.ts';
import { MANIFEST_ACCEPT } from './media-types.ts';
import { formatReference, registryHost, registryScheme } from './reference.ts';
import type { ImageRef, RegistryCredentials } from './types.ts';

export interface RegistryClientOptions {
  /** registries (host or host:port) reachable over plain HTTP besides loopback */
  insecureRegistries?: string[];
  agent?: HttpAgent;
  userAgent?: string;
  /** per-request timeout for headers (ms); bodies are bounded by the caller's signal */
  headersTimeoutMs?: number;
}

export interface FetchedManifest {
  mediaType: string;
  digest: string;
  bytes: Buffer;
}

type Creds = ((registry: string) => RegistryCredentials | undefined) | undefined;

interface RawResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
}

const header = (h: RawResponse['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** An OCI distribution-spec client (pull side): auth challenges, manifests, blobs with Range. */
export class RegistryClient {
  private readonly insecure: string[];
  private readonly agent: HttpAgent | undefined;
  private readonly headersTimeoutMs: number | undefined;
  private readonly userAgent: string;
  private readonly tokens = new Map<string, string>();
  /** counters for tests and metrics */
  readonly stats = { manifestRequests: 0, blobRequests: 0, tokenRequests: 0 };

  constructor(opts: RegistryClientOptions = {}) {
    this.insecure = opts.insecureRegistries ?? [];
    this.agent = opts.agent;
    this.headersTimeoutMs = opts.headersTimeoutMs;
    this.userAgent = opts.userAgent ?? 'hedge-agent/0.1';
  }

  private base(ref: ImageRef): string {
    return `${registryScheme(ref.registry, this.insecure)}://${registryHost(ref.registry)}`;
  }

  /** HEAD the manifest: its digest and media type, or NotFound */
  async headManifest(ref: ImageRef, reference: string, opts: { credentials?: Creds; signal: AbortSignal }): Promise<{ digest?: string; mediaType?: string }> {
    this.stats.manifestRequests++;
    const res = await this.send(ref, `/v2/${ref.repository}/manifests/${reference}`, { method: 'HEAD', accept: MANIFEST_ACCEPT, ...opts });
    if (res.statusCode !== 200) throw await this.failure(ref, res, 'manifest');
    await res.body.dump();
    return { digest: header(res.headers, 'docker-content-digest'), mediaType: header(res.headers, 'content-type')?.split(';')[0] };
  }

  async getManifest(ref: ImageRef, reference: string, opts: { credentials?: Creds; signal: AbortSignal }): Promise<FetchedManifest> {
    this.stats.manifestRequests++;
    const res = await this.send(ref, `/v2/${ref.repository}/manifests/${reference}`, { method: 'GET', accept: MANIFEST_ACCEPT, ...opts });
    if (res.statusCode !== 200) throw await this.failure(ref, res, 'manifest');
    const bytes = await res.body.bytes();
    if (bytes.length > 4 * 1024 * 1024) throw new HedgeError('Invalid', `${formatReference(ref)}: manifest larger than 4 MiB`);
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new HedgeError('Invalid', `${formatReference(ref)}: manifest digest mismatch: expected ${reference}, got ${digest}`);
    }
    let mediaType = header(res.headers, 'content-type')?.split(';')[0].trim();
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string };
      if (doc.mediaType) mediaType = doc.mediaType;
    } catch (err) {
      throw new HedgeError('Invalid', `${formatReference(ref)}: manifest is not JSON`, { cause: err });
    }
    return { mediaType: mediaType ?? '', digest, bytes };
  }

  /** GET a blob from `offset`; `offset` in the result is 0 when the registry ignored Range */
  async getBlob(ref: ImageRef, digest: string, opts: { offset: number; credentials?: Creds; signal: AbortSignal }): Promise<{ body: Readable; offset: number }> {
    this.stats.blobRequests++;
    const extra: Record<string, string> = opts.offset > 0 ? { range: `bytes=${opts.offset}-` } : {};
    const res = await this.send(ref, `/v2/${ref.repository}/blobs/${digest}`, { method: 'GET', headers: extra, credentials: opts.credentials, signal: opts.signal, follow: true });
    if (res.statusCode === 200) return { body: res.body, offset: 0 };
    if (res.statusCode === 206) {
      const m = /bytes (\d+)-/.exec(header(res.headers, 'content-range') ?? '');
      return { body: res.body, offset: m ? Number(m[1]) : opts.offset };
    }
    if (res.statusCode === 416 && opts.offset > 0) {
      // our partial is already complete (or wrong): ask for the whole blob
      await res.body.dump();
      return await this.getBlob(ref, digest, { ...opts, offset: 0 });
    }
    throw await this.failure(ref, res, `blob ${digest}`);
  }

  private async send(
    ref: ImageRef,
    path: string,
    opts: { method: 'GET' | 'HEAD'; accept?: string[]; headers?: Record<string, string>; credentials?: Creds; signal: AbortSignal; follow?: boolean },
  ): Promise<RawResponse> {
    const scope = `repository:${ref.repository}:pull`;
    const key = `${ref.registry}|${scope}`;
    const build = (): Record<string, string> => {
      const h: Record<string, string> = { 'user-agent': this.userAgent, ...opts.headers };
      if (opts.accept) h.accept = opts.accept.join(', ');
      const token = this.tokens.get(key);
      if (token) h.authorization = token;
      return h;
    };
    let res = await this.raw(`${this.base(ref)}${path}`, opts.method, build(), opts.signal, opts.follow ?? false);
    if (res.statusCode === 401) {
      const challenge = header(res.headers, 'www-authenticate');
      const errText = await registryErrorText(res);
      if (!challenge) throw new HedgeError('Unauthorized', `${formatReference(ref)}: unauthorized: ${errText || 'no auth challenge'}`);
      const auth = await this.authorize(ref, challenge, scope, opts.credentials?.(ref.registry), opts.signal);
      if (!auth) {
        throw new HedgeError('Unauthorized', `${formatReference(ref)}: unauthorized: ${errText || 'authentication required'}`);
      }
      this.tokens.set(key, auth);
      res = await this.raw(`${this.base(ref)}${path}`, opts.method, build(), opts.signal, opts.follow ?? false);
      if (res.statusCode === 401) {
        this.tokens.delete(key);
        throw new HedgeError('Unauthorized', `${formatReference(ref)}: unauthorized: ${(await registryErrorText(res)) || 'credentials rejected'}`);
      }
    }
    return res;
  }

  /** answers a challenge: a Bearer token from the realm, or Basic credentials */
  private async authorize(ref: ImageRef, challengeHeader: string, scope: string, creds: RegistryCredentials | undefined, signal: AbortSignal): Promise<string | undefined> {
    const challenges = parseAuthChallenges(challengeHeader);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basicCreds = creds?.username !== undefined ? `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}` : undefined;
    if (bearer?.params.realm) {
      const url = new URL(bearer.params.realm);
      if (bearer.params.service) url.searchParams.set('service', bearer.params.service);
      url.searchParams.set('scope', bearer.params.scope ?? scope);
      const h: Record<string, string> = { 'user-agent': this.userAgent };
      if (creds?.token) h.authorization = `Bearer ${creds.token}`;
      else if (basicCreds) h.authorization = basicCreds;
      this.stats.tokenRequests++;
      const res = await this.raw(url.toString(), 'GET', h, signal, true);
      if (res.statusCode !== 200) {
        const text = await registryErrorText(res);
        const code: ErrorCode = res.statusCode === 401 || res.statusCode === 403 ? 'Unauthorized' : 'Unavailable';
        throw new HedgeError(code, `${formatReference(ref)}: token request to ${url.origin}${url.pathname} failed: HTTP ${res.statusCode}${text ? `: ${text}` : ''}`);
      }
      const body = (await res.body.json()) as { token?: string; access_token?: string };
      const token = body.token ?? body.access_token;
      if (!token) throw new HedgeError('Unauthorized', `${formatReference(ref)}: token server returned no token`);
      return `Bearer ${token}`;
    }
    if (challenges.some((c) => c.scheme === 'basic')) return basicCreds;
    return undefined;
  }

  private async raw(url: string, method: 'GET' | 'HEAD', headers: Record<string, string>, signal: AbortSignal, follow: boolean): Promise<RawResponse> {
    let target = new URL(url);
    const origin = target.origin;
    for (let hops = 0; ; hops++) {
      let res: RawResponse;
      try {
        res = await httpRequest(target, { method, headers, signal, headersTimeoutMs: this.headersTimeoutMs, ...(this.agent ? { agent: this.agent } : {}) });
      } catch (err) {
        if (signal.aborted) throw err;
        throw new HedgeError('Unavailable', `${method} ${target.origin}${target.pathname}: ${(err as Error).message || String(err)}`, { cause: err });
      }
      const location = header(res.headers, 'location');
      if (follow && location && [301, 302, 303, 307, 308].includes(res.statusCode) && hops < 5) {
        await res.body.dump();
        target = new URL(location, target);
        // storage backends sign their own URLs: never forward registry credentials to them
        if (target.origin !== origin) delete headers.authorization;
        continue;
      }
      return res;
    }
  }

  private async failure(ref: ImageRef, res: RawResponse, what: string): Promise<HedgeError> {
    const text = res.statusCode === 404 && what === 'manifest' ? (await registryErrorText(res)) || 'manifest unknown' : await registryErrorText(res);
    const name = formatReference(ref);
    switch (true) {
      case res.statusCode === 404:
        return new HedgeError('NotFound', `${name}: not found: ${text || `${what} unknown`}`);
      case res.statusCode === 401 || res.statusCode === 403:
        return new HedgeError('Unauthorized', `${name}: ${res.statusCode === 403 ? 'denied' : 'unauthorized'}: ${text || 'access denied'}`);
      case res.statusCode === 429:
        return new HedgeError('TooManyRequests', `${name}: toomanyrequests: ${text || 'rate limited'}`);
      case res.statusCode >= 500:
        return new HedgeError('Unavailable', `${name}: registry error HTTP ${res.statusCode}${text ? `: ${text}` : ''}`);
      default:
        return new HedgeError('Internal', `${name}: unexpected HTTP ${res.statusCode} for ${what}${text ? `: ${text}` : ''}`);
    }
  }
}

/** the registry's own message(s) from `{"errors":[{"code","message"}]}`, or the body text */
async function registryErrorText(res: RawResponse): Promise<string> {
  let text: string;
  try {
    text = (await res.body.text()).slice(0, 2000);
  } catch {
    return '';
  }
  try {
    const doc = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    if (Array.isArray(doc.errors) && doc.errors.length > 0) return doc.errors.map((e) => e.message ?? e.code ?? '').join('; ');
  } catch {
    // not JSON
  }
  return text.trim();
}
