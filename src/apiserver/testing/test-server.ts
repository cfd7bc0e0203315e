import type { IncomingMessage } from 'node:http';
import { silentLogger } from '../../lib/log.ts';
import { MemoryStore } from '../../store/index.ts';
import type { Store, WatchEvent, WatchOptions } from '../../store/types.ts';
import type { UserInfo } from '../auth/types.ts';
import { createApiServer, type RunningApiServer } from '../server.ts';
import type { ApiServerConfig } from '../types.ts';

export const testToken = 'test-token';

/** Bearer `test-token` is the admin; `user-<name>` is that user; `node-<name>` is node <name>; no header is anonymous. */
export function testAuthenticator(): { authenticate(req: IncomingMessage): UserInfo | undefined } {
  return {
    authenticate(req: IncomingMessage): UserInfo | undefined {
      const h = req.headers.authorization;
      if (!h?.startsWith('Bearer ')) return undefined;
      const token = h.slice('Bearer '.length);
      if (token === testToken) return { username: 'admin', groups: ['system:masters'] };
      // every authenticated user is in system:authenticated, as the real authenticators add it
      if (token.startsWith('user-')) return { username: token.slice(5), groups: ['system:authenticated'] };
      if (token.startsWith('node-')) return { username: `system:node:${token.slice(5)}`, groups: ['system:nodes', 'system:authenticated'] };
      return undefined;
    },
  };
}

/** Wraps a Store and counts open watches, so tests can prove watches are released. */
export class CountingStore implements Store {
  openWatches = 0;
  constructor(readonly inner: Store) {}
  get: Store['get'] = (k, o) => this.inner.get(k, o);
  list: Store['list'] = (p, o) => this.inner.list(p, o);
  count: Store['count'] = (p) => this.inner.count(p);
  create: Store['create'] = (k, v, o) => this.inner.create(k, v, o);
  update: Store['update'] = (k, v, o) => this.inner.update(k, v, o);
  delete: Store['delete'] = (k, o) => this.inner.delete(k, o);
  currentRevision: Store['currentRevision'] = () => this.inner.currentRevision();
  compactedRevision: Store['compactedRevision'] = () => this.inner.compactedRevision();
  compact: Store['compact'] = (r) => this.inner.compact(r);
  close: Store['close'] = () => this.inner.close();
  watch(prefix: string, opts: WatchOptions): AsyncIterable<WatchEvent> {
    const inner = this.inner.watch(prefix, opts);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        self.openWatches++;
        try {
          yield* inner;
        } finally {
          self.openWatches--;
        }
      },
    };
  }
}

export interface TestServer {
  server: RunningApiServer;
  store: CountingStore;
  url: string;
  /** fetch relative to the server with the admin token (override headers as needed) */
  request(path: string, init?: RequestInit): Promise<Response>;
  json<T = Record<string, unknown>>(path: string, init?: RequestInit): Promise<{ status: number; body: T; headers: Headers }>;
  close(): Promise<void>;
}

export async function startTestServer(opts: Partial<ApiServerConfig> = {}): Promise<TestServer> {
  const store = new CountingStore(opts.store ?? new MemoryStore());
  const server = await createApiServer({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    authenticator: testAuthenticator(),
    ...opts,
    store,
  });
  const request = (path: string, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${testToken}`);
    return fetch(`${server.url}${path}`, { ...init, headers });
  };
  return {
    server,
    store,
    url: server.url,
    request,
    async json<T>(path: string, init?: RequestInit) {
      const r = await request(path, init);
      const text = await r.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // leave as text
      }
      return { status: r.status, body: body as T, headers: r.headers };
    },
    async close() {
      await server.close();
      await store.close();
    },
  };
}
