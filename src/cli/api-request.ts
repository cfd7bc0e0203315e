import { request } from 'node:https';
import { HedgeError } from '../lib/errors.ts';

export interface ApiCredentials {
  url: string;
  ca: string;
  cert: string;
  key: string;
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

/** One JSON request to the API server with the admin client certificate; bounded by `timeoutMs`. */
export function apiRequest(
  creds: ApiCredentials,
  method: string,
  path: string,
  body?: unknown,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ApiResponse> {
  const u = new URL(path, creds.url);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: u.port,
        path: `${u.pathname}${u.search}`,
        ca: creds.ca,
        cert: creds.cert,
        key: creds.key,
        signal: opts.signal,
        timeout: opts.timeoutMs ?? 10_000,
        headers: {
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            // non-JSON bodies (e.g. /readyz "ok") are returned as text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new HedgeError('Timeout', `${method} ${u.pathname}: no answer in time`)));
    req.on('error', reject);
    req.end(payload);
  });
}
