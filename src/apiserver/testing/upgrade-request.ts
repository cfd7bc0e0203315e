import { request as httpRequest } from 'node:http';
import { testToken } from './test-server.ts';

/**
 * An upgrade request as `kubectl exec` makes it (SPDY, POST, admin token): the status and body
 * of a refusal, or 101 with an empty body (the upgraded socket is closed at once).
 */
export function upgradeRequest(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(url), {
      method: 'POST',
      headers: { authorization: `Bearer ${testToken}`, connection: 'Upgrade', upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}
