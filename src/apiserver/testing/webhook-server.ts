import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateCa, generateServingCert } from '../auth/pki.ts';

export interface TestWebhookServer {
  /** https://127.0.0.1:<port> */
  url: string;
  port: number;
  /** base64 PEM of the CA that signed the serving certificate (clientConfig.caBundle) */
  caBundle: string;
  close(): Promise<void>;
}

/**
 * An HTTPS admission webhook server for tests: `answer(path, review)` returns the response body
 * (an AdmissionReview) for each POSTed review (path with query). The serving certificate, from a fresh CA, is valid
 * for `hosts` (127.0.0.1 for url webhooks, `<svc>.<ns>.svc` for Service webhooks).
 */
export async function startWebhookServer(hosts: string[], answer: (path: string, review: unknown) => unknown): Promise<TestWebhookServer> {
  const ca = await generateCa('webhook-ca');
  const serving = await generateServingCert({ ca, hosts });
  const server: Server = createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify(answer(req.url ?? '/', JSON.parse(Buffer.concat(chunks).toString())));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caBundle: Buffer.from(ca.cert).toString('base64'),
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Webhook configurations reach the dispatcher through a watch: retry `attempt` until `ok` (at most ~2 s). */
export async function eventually<T>(attempt: (i: number) => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  for (let i = 0; ; i++) {
    const v = await attempt(i);
    if (ok(v) || i >= 100) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}
