import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createNetServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { silentLogger } from '../../lib/log.ts';
import { ensureHubPki, type HubPki } from '../hub-pki.ts';
import { startTunnelClient } from './tunnel-client.ts';

/**
 * A WebSocket server by hand, so the test sees the frames as they arrive: accepts the upgrade,
 * then resolves with the 4-byte masking key of the first frame the client sends (its keepalive ping).
 */
function firstMaskOn(socket: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let upgraded = false;
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const key = /^sec-websocket-key: *(.+)$/im.exec(buf.subarray(0, end).toString())?.[1]?.trim() ?? '';
        const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        upgraded = true;
        buf = buf.subarray(end + 4);
      }
      if (buf.length < 6) return;
      assert.equal(buf[1]! & 0x80, 0x80, 'a client frame has the MASK bit set');
      assert.ok((buf[1]! & 0x7f) < 126, 'a small first frame');
      resolve(Buffer.from(buf.subarray(2, 6)));
      socket.destroy();
    });
  });
}

describe('tunnel client frames', () => {
  let pki: HubPki;
  let dir: string;
  const servers: Server[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-tunnel-client-'));
    pki = await ensureHubPki(dir, ['127.0.0.1']);
  });
  after(async () => {
    for (const s of servers) s.close();
    await rm(dir, { recursive: true, force: true });
  });

  const listen = async (s: Server): Promise<number> => {
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as { port: number }).port;
  };
  const maskOf = async (scheme: 'https' | 'http'): Promise<Buffer> => {
    let got!: Promise<Buffer>;
    const seen = new Promise<void>((resolve) => {
      const onSocket = (socket: Duplex): void => {
        got = firstMaskOn(socket);
        resolve();
      };
      void listen(scheme === 'https' ? createTlsServer({ cert: pki.server.cert, key: pki.server.key }, onSocket) : createNetServer(onSocket)).then((port) => {
        const stop = new AbortController();
        startTunnelClient(
          { server: `${scheme}://127.0.0.1:${port}`, nodeName: 'n1', token: 't', ca: pki.ca.cert, connectLocal: () => new Socket(), logger: silentLogger(), keepalive: { intervalMs: 20, timeoutMs: 5_000 } },
          stop.signal,
        );
        void seen.then(() => got).finally(() => stop.abort());
      });
    });
    await seen;
    return got;
  };

  it('inside TLS the masking key is all zeros (ws then neither XORs nor copies the payload)', async () => {
    assert.deepEqual([...(await maskOf('https'))], [0, 0, 0, 0]);
  });

  it('on a plain connection the masking key stays random, as RFC 6455 asks', async () => {
    assert.notDeepEqual([...(await maskOf('http'))], [0, 0, 0, 0]);
  });
});
