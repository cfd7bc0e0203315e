import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { silentLogger } from '../../lib/log.ts';
import { startNodeServer, type NodeServer } from './node-server.ts';

/** Sends a raw upgrade request and returns the status line and the socket (positioned after the headers). */
function upgrade(port: number, path: string, headers: Record<string, string>): Promise<{ status: string; socket: Socket; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('data', function onData(c: Buffer) {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      resolve({ status: buf.subarray(0, buf.indexOf('\r\n')).toString(), socket, rest: buf.subarray(end + 4) });
    });
    const lines = Object.entries({ Host: 'node', Connection: 'Upgrade', ...headers }).map(([k, v]) => `${k}: ${v}`);
    socket.write(`GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
  });
}

describe('node server /podconnect (raw TCP to a pod, for admission webhooks)', () => {
  let srv: NodeServer;
  let echo: Server;
  let echoPort = 0;
  const pod: Pod = { metadata: { name: 'hook', namespace: 'default' }, spec: { containers: [] }, status: { podIP: '127.0.0.1', podIPs: [{ ip: '127.0.0.1' }] } };
  const auth = { Authorization: 'Bearer sekret', Upgrade: 'hedge-tcp' };

  before(async () => {
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as { port: number }).port;
    srv = await startNodeServer({
      host: '127.0.0.1',
      port: 0,
      auth: { tokens: new Set(['sekret']), clientCerts: false, authorization: 'AlwaysAllow' },
      pods: { pods: () => [pod], locate: () => undefined },
      logger: silentLogger(),
    });
  });
  after(async () => {
    await srv.close();
    await new Promise((r) => echo.close(r));
  });

  it('upgrades to a byte stream connected to the pod IP and port', async () => {
    const { status, socket, rest } = await upgrade(srv.port, `/podconnect/127.0.0.1/${echoPort}`, auth);
    assert.equal(status, 'HTTP/1.1 101 Switching Protocols');
    assert.equal(rest.length, 0);
    const got = new Promise<string>((r) => socket.once('data', (c: Buffer) => r(c.toString())));
    socket.write('\x00raw bytes\xff');
    assert.equal(await got, '\x00raw bytes\xff');
    socket.destroy();
  });

  it('refuses unauthenticated callers, IPs that are not this node\'s pods, bad ports and closed ports', async () => {
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ Upgrade: 'hedge-tcp' }, `/podconnect/127.0.0.1/${echoPort}`, /^HTTP\/1\.1 401/],
      [auth, `/podconnect/10.9.9.9/${echoPort}`, /^HTTP\/1\.1 404/],
      [auth, '/podconnect/127.0.0.1/99999', /^HTTP\/1\.1 400/],
      [{ ...auth, Upgrade: 'websocket' }, `/podconnect/127.0.0.1/${echoPort}`, /^HTTP\/1\.1 400/],
      [auth, '/podconnect/127.0.0.1/1', /^HTTP\/1\.1 502/],
    ];
    for (const [headers, path, want] of cases) {
      const { status, socket } = await upgrade(srv.port, path, headers);
      assert.match(status, want, path);
      socket.destroy();
    }
  });
});
