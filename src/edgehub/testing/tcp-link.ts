import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback TCP relay standing in for the node↔cloud link in unit tests: `cut()` drops every
 * connection and refuses new ones, `restore()` lets traffic through again.
 */
export class TcpLink {
  private readonly sockets = new Set<Socket>();
  private up = true;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async open(target: { host: string; port: number }): Promise<TcpLink> {
    const holder: { link?: TcpLink } = {};
    const server = createServer((client) => {
      const link = holder.link;
      if (!link?.up) {
        client.destroy();
        return;
      }
      const upstream = connect(target.port, target.host);
      for (const s of [client, upstream]) {
        s.setNoDelay(true);
        link.sockets.add(s);
        s.on('close', () => link.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.link = new TcpLink(server, (server.address() as AddressInfo).port);
    return holder.link;
  }

  cut(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.up = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
