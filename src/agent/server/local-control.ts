import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { linkedSignal } from '../../lib/signals.ts';
import type { ImageInfo } from '../image/types.ts';

/** what the control socket needs of the node's image store */
export interface ControlImageStore {
  list(): Promise<ImageInfo[]>;
  import(path: string, opts: { signal: AbortSignal }): Promise<ImageInfo[]>;
  remove(ref: string): Promise<void>;
}

export interface LocalControlOptions {
  /** unix socket path; created 0600 (root only), replaced if stale */
  socketPath: string;
  images: ControlImageStore;
  logger: Logger;
}

/** body of every error answer: a Kubernetes-Status-like reason and message */
export interface ControlError {
  reason: string;
  message: string;
}

const STATUS_BY_CODE: Record<string, number> = { NotFound: 404, Invalid: 422, BadRequest: 400, Conflict: 409 };

/**
 * The running agent owns its image store (in-memory metadata, tmp dirs): `hedge image` on the
 * same host goes through this root-only unix socket rather than write beside it, the way `ctr`
 * talks to containerd. Local only: it works with the cloud unreachable.
 */
export async function startLocalControl(opts: LocalControlOptions): Promise<{ close(): Promise<void> }> {
  const log = opts.logger.child({ component: 'local-control' });
  const closing = new AbortController();
  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      const code = isHedgeError(err) ? err.code : 'InternalError';
      if (!isHedgeError(err)) log.error({ err }, 'control request failed');
      send(res, STATUS_BY_CODE[code] ?? 500, { reason: code, message: (err as Error).message } satisfies ControlError);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.pathname === '/images' && req.method === 'GET') return send(res, 200, await opts.images.list());
    if (url.pathname === '/images/import' && req.method === 'POST') {
      const path = url.searchParams.get('path');
      if (!path || !path.startsWith('/')) return send(res, 400, { reason: 'BadRequest', message: 'path: an absolute path is required' });
      // a client that goes away cancels the import; so does agent shutdown (the response always
      // closes, and aborting `gone` then unhooks the link from `closing`)
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      const imported = await opts.images.import(path, { signal: linkedSignal([gone.signal, closing.signal]) });
      log.info({ path, images: imported.map((i) => i.ref) }, 'imported images');
      return send(res, 200, imported);
    }
    if (url.pathname.startsWith('/images/') && req.method === 'DELETE') {
      await opts.images.remove(decodeURIComponent(url.pathname.slice('/images/'.length)));
      return send(res, 200, {});
    }
    send(res, 404, { reason: 'NotFound', message: `${req.method} ${url.pathname}: no such endpoint` });
  }

  await rm(opts.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => resolve());
  });
  await chmod(opts.socketPath, 0o600);
  return {
    async close(): Promise<void> {
      closing.abort();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await rm(opts.socketPath, { force: true });
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
