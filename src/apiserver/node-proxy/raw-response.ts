import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** An HTTP/1.1 response written straight onto a socket that never became a ServerResponse (upgrade requests). */
export function writeRawResponse(socket: Duplex, code: number, contentType: string, body: Buffer | string, extraHeaders: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  let head = `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Unknown'}\r\nContent-Type: ${contentType}\r\nContent-Length: ${buf.length}\r\nCache-Control: no-cache, private\r\nConnection: close\r\n`;
  for (const [k, v] of Object.entries(extraHeaders)) head += `${k}: ${v}\r\n`;
  socket.end(Buffer.concat([Buffer.from(`${head}\r\n`), buf]));
}
