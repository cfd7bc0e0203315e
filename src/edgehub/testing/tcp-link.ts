import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** what the link does with traffic: pass it, refuse it (RST), or swallow it (accept, never answer) */
export type LinkMode = 'up' | 'cut' | 'blackhole';

interface Pair {
  client: Socket;
  upstream?: Socket;
}

/**
 * A loopback TCP relay standing in for the node↔cloud link in unit tests: `cut()` drops every
 * connection and refuses new ones, `blackhole()` keeps accepting connections but never forwards a
 * byte either way (a peer that accepts TCP and never answers), `restore()` lets traffic through
 * again. `retarget()` points new connections at another port (a cloud restarted elsewhere).
 */
export class TcpLink {
  private readonly pairs = new Set<Pair>();
  private mode: LinkMode = 'up';
  private swallowedCount = 0;
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private target: { host: string; port: number },
  ) {}

  static async open(target: { host: string; port: number }): Promise<TcpLink> {
    const holder: { link?: TcpLink } = {};
    const server = createServer((client) => holder.link?.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.link = new TcpLink(server, (server.address() as AddressInfo).port, target);
    return holder.link;
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    if (this.mode === 'cut') {
      client.destroy();
      return;
    }
    const pair: Pair = { client };
    this.pairs.add(pair);
    client.on('close', () => {
      this.pairs.delete(pair);
      pair.upstream?.destroy();
    });
    // black-holed: accepted, read and dropped, never answered
    if (this.mode === 'blackhole') {
      this.swallowedCount++;
      client.resume();
      return;
    }
    const upstream = connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    for (const s of [client, upstream]) s.setNoDelay(true);
    upstream.on('error', () => undefined);
    client.pipe(upstream).pipe(client);
    upstream.on('close', () => {
      // a black-holed link hides the far end going away too
      if (this.mode !== 'blackhole') client.destroy();
    });
  }

  cut(): void {
    this.mode = 'cut';
    for (const p of this.pairs) p.client.destroy();
  }

  /** from now on nothing passes either way, and nothing is closed either */
  blackhole(): void {
    this.mode = 'blackhole';
    for (const p of this.pairs) {
      if (!p.upstream) continue;
      this.swallowedCount++;
      p.client.unpipe(p.upstream);
      p.upstream.unpipe(p.client);
      p.client.resume();
      p.upstream.destroy();
    }
  }

  /** traffic passes again; connections swallowed while black-holed are reset, as a peer that gave up on them would */
  restore(): void {
    if (this.mode === 'blackhole') for (const p of this.pairs) p.client.destroy();
    this.mode = 'up';
  }

  retarget(target: { host: string; port: number }): void {
    this.target = target;
  }

  /** connections swallowed by the black hole so far (open when it began, or accepted during it) */
  get swallowed(): number {
    return this.swallowedCount;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
