import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A stand-in for a node's kubelet-style server: /containerLogs and a WebSocket /exec speaking
 * v5.channel.k8s.io (channel byte + payload; 1 stdout, 3 status).
 */
export interface FakeKubelet {
  port: number;
  /** request URLs seen, in order */
  seen: string[];
  /** resolves when the n-th follow stream was closed by the other side */
  followClosed(n?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeKubelet(): Promise<FakeKubelet> {
  const seen: string[] = [];
  let closedFollows = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const noteFollowClosed = (): void => {
    closedFollows++;
    for (const w of waiters.filter((x) => x.n <= closedFollows)) w.resolve();
  };
  const server: Server = createServer((req, res) => {
    seen.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such path');
      return;
    }
    const [, , pod, container] = m;
    if (container === 'missing') {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`container "missing" in pod "${pod}" is waiting to start: ContainerCreating`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    if (url.searchParams.get('follow') !== 'true') {
      res.end(`hello from ${container}\nsecond line\n`);
      return;
    }
    // follow: a line now, another soon, then stay open until the reader leaves
    res.write('line 1\n');
    const timer = setTimeout(() => res.write('line 2\n'), 20);
    res.on('close', () => {
      clearTimeout(timer);
      noteFollowClosed();
    });
  });
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('v5.channel.k8s.io') ? 'v5.channel.k8s.io' : false),
  });
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    seen.push(req.url ?? '');
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const command = url.searchParams.getAll('command');
      const out = command[0] === 'echo' ? `${command.slice(1).join(' ')}\n` : `ran ${command.join(' ')}\n`;
      ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(out)]));
      ws.send(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' }))]));
      ws.close(1000);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    followClosed(n = 1) {
      if (closedFollows >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    async close() {
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A Node object whose kubelet endpoint is `port` on 127.0.0.1. */
export function nodeAt(name: string, port: number): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    status: {
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: port } },
    },
  };
}

export function podOn(name: string, node: string | undefined, containers: string[] = ['main']): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { ...(node ? { nodeName: node } : {}), containers: containers.map((c) => ({ name: c, image: 'busybox' })) },
  };
}

/** a port nothing listens on: a Node address only its tunnel reaches */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
