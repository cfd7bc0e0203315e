import type { Environment } from '@marcbachmann/cel-js';
import { celError } from './errors.ts';

/** A parsed URL as upstream's url library sees it (Go's url.Parse: absolute, or an absolute path). */
export class CelUrl {
  constructor(readonly url: URL, readonly raw: string) {}
}

/**
 * k8s.io/apiserver/pkg/cel/library/urls.go: url(), isURL() and the getters. URLs must be absolute
 * (scheme + host) or absolute paths, as upstream requires.
 */
export function registerUrlLibrary(env: Environment): void {
  env.registerType('kubernetes.URL', CelUrl);
  env.registerFunction('url(string): kubernetes.URL', (s: string) => {
    const u = parseUrl(s);
    if (!u) throw celError(`URL parse error during conversion from string: ${s}`);
    return u;
  });
  env.registerFunction('isURL(string): bool', (s: string) => parseUrl(s) !== undefined);
  env.registerFunction('kubernetes.URL.getScheme(): string', (u: CelUrl) => u.url.protocol.replace(/:$/, ''));
  env.registerFunction('kubernetes.URL.getHost(): string', (u: CelUrl) => u.url.host);
  env.registerFunction('kubernetes.URL.getHostname(): string', (u: CelUrl) => u.url.hostname.replace(/^\[(.*)\]$/, '$1'));
  env.registerFunction('kubernetes.URL.getPort(): string', (u: CelUrl) => u.url.port || explicitDefaultPort(u));
  env.registerFunction('kubernetes.URL.getEscapedPath(): string', (u: CelUrl) => (u.raw.startsWith('/') || u.url.pathname !== '/' || /^[a-z][a-z0-9+.-]*:\/\/[^/]*\//i.test(u.raw) ? u.url.pathname : ''));
  env.registerFunction('kubernetes.URL.getQuery(): map<string, list<string>>', (u: CelUrl) => {
    const out: Record<string, string[]> = {};
    for (const [k, v] of u.url.searchParams) (out[k] ??= []).push(v);
    return out;
  });
}

/** WHATWG URL drops a port equal to the scheme's default; Go keeps what was written. */
function explicitDefaultPort(u: CelUrl): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?(\[[^\]]*\]|[^:/?#]*):(\d+)/i.exec(u.raw);
  return m?.[2] ?? '';
}

function parseUrl(s: string): CelUrl | undefined {
  if (s.startsWith('/')) {
    try {
      return new CelUrl(new URL(s, 'http://relative.invalid'), s);
    } catch {
      return undefined;
    }
  }
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#]+/i.test(s)) return undefined;
  try {
    return new CelUrl(new URL(s), s);
  } catch {
    return undefined;
  }
}
