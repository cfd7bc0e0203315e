import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { generateCa, generateClientCert, generateServingCert } from '../apiserver/auth/pki.ts';
import type { ApiCredentials } from './api-request.ts';
import { deleteDemoPods } from './demo.ts';

describe('demo pods', () => {
  let creds: ApiCredentials;
  let close: () => Promise<void>;
  /** GETs of a deleted pod answer 200 this many times before 404, as while the node tears it down */
  let getsUntilGone = 0;

  before(async () => {
    const ca = await generateCa();
    const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
    const client = await generateClientCert({ ca, commonName: 'admin', organizations: ['system:masters'] });
    const server = createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && getsUntilGone-- > 0) {
        res.end(JSON.stringify({ kind: 'Pod', metadata: { name: 'p', deletionTimestamp: new Date().toISOString() } }));
        return;
      }
      res.statusCode = req.method === 'DELETE' ? 200 : 404;
      res.end(JSON.stringify({ kind: 'Status', code: res.statusCode }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    creds = { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, ca: ca.cert, cert: client.cert, key: client.key };
    close = () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    };
  });
  after(() => close?.());

  it('waiting for deletion leaves no abort listener on the shared signal (hedge up warned MaxListenersExceeded on Ctrl-C)', async () => {
    const signal = AbortSignal.timeout(60_000);
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(`${w.name}: ${w.message}`);
    };
    process.on('warning', onWarning);
    try {
      getsUntilGone = 12;
      await deleteDemoPods(creds, ['hello-runc'], signal);
      assert.equal(getsUntilGone, -1, 'polled until the pod was gone');
      assert.equal(getEventListeners(signal, 'abort').length, 0);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('an abort ends the wait with its reason', async () => {
    const ac = new AbortController();
    getsUntilGone = 1_000;
    const waiting = deleteDemoPods(creds, ['hello-runc'], ac.signal);
    setTimeout(() => ac.abort(new Error('interrupted')), 600);
    await assert.rejects(waiting, /interrupted/);
  });
});
