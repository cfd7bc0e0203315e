import type { Duplex } from 'node:stream';
import type { NodeResponse } from './node-dialer.ts';
import { writeRawResponse } from './raw-response.ts';

/** how long a side may stay open after its peer closed (its last bytes flush meanwhile) */
const LINGER_MS = 5_000;

function splice(a: Duplex, b: Duplex): void {
  const fail = (): void => {
    a.destroy();
    b.destroy();
  };
  // A closed side ends its peer rather than destroying it: destroy would drop what the peer
  // still had buffered, e.g. the node's last stdout frame and exit status racing its close.
  const closeAfter = (from: Duplex, to: Duplex): void => {
    from.on('close', () => {
      to.end();
      setTimeout(() => to.destroy(), LINGER_MS).unref();
    });
  };
  a.on('error', fail);
  b.on('error', fail);
  closeAfter(a, b);
  closeAfter(b, a);
  a.pipe(b);
  b.pipe(a);
}

/**
 * Relay the answer to an upgrade request (exec, attach, port-forward) to the client's socket, as
 * kube-apiserver's UpgradeAwareHandler does: a refusal is passed on as it came (so the client can
 * fall back, e.g. WebSocket → SPDY); a 101 is written as received and the two connections are
 * spliced byte for byte, the stream protocol negotiated between the client and the far end.
 * `clientHead` is what the client sent after its request headers.
 */
export async function relayUpgrade(client: Duplex, clientHead: Buffer, resp: NodeResponse): Promise<void> {
  if (resp.kind === 'response') {
    const chunks: Buffer[] = [];
    for await (const c of resp.body as AsyncIterable<Buffer>) chunks.push(c);
    writeRawResponse(client, resp.statusCode, String(resp.headers['content-type'] ?? 'text/plain'), Buffer.concat(chunks));
    return;
  }
  let head = `HTTP/1.1 ${resp.statusCode} ${resp.statusMessage}\r\n`;
  for (let i = 0; i + 1 < resp.rawHeaders.length; i += 2) head += `${resp.rawHeaders[i]}: ${resp.rawHeaders[i + 1]}\r\n`;
  client.write(`${head}\r\n`);
  if (resp.head.length > 0) client.write(resp.head);
  if (clientHead.length > 0) resp.socket.write(clientHead);
  splice(client, resp.socket);
}
