/** A TCP proxy standing in for an edge node's link to the cloud: `cut()` destroys every proxied socket and refuses new ones. */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/** A TCP proxy standing in for the edge's link to the cloud. */
export interface Link {
  url: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startLink(target: URL): Promise<Link> {
  const sockets = new Set<Socket>();
  let up = true;
  const server: Server = createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const cut = (): void => {
    up = false;
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    url: `https://127.0.0.1:${port}`,
    cut,
    restore() {
      up = true;
    },
    async close() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
