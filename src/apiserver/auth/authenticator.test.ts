import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request, createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAuthenticator } from './authenticator.ts';
import { ensurePki, generateCa, generateClientCert, type Pki } from './pki.ts';
import { TokenFile } from './tokens.ts';
import type { Authenticator } from './types.ts';

interface Client {
  cert?: string;
  key?: string;
  token?: string;
}

describe('createAuthenticator over real TLS', () => {
  let dataDir: string;
  let pki: Pki;
  let tokens: TokenFile;
  let server: Server;
  let port: number;
  let foreign: { cert: string; key: string };
  let foreignUser: { cert: string; key: string };

  function serve(auth: Authenticator, ca: string): Promise<Server> {
    // the apiserver's TLS posture: ask for a cert, but let token/anonymous clients connect
    const s = createServer({ cert: pki.serverCert, key: pki.serverKey, ca, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      res.end(JSON.stringify(auth.authenticate(req) ?? null));
    });
    return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)));
  }

  function call(p: number, c: Client, agent = false): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: p,
          path: '/',
          ca: pki.caCert,
          cert: c.cert,
          key: c.key,
          agent: agent ? undefined : false,
          headers: c.token === undefined ? {} : { authorization: `Bearer ${c.token}` },
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(JSON.parse(body)));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'hedge-authn-'));
    pki = await ensurePki({ dataDir, hosts: [] });
    tokens = await TokenFile.open(join(dataDir, 'tokens.csv'));
    foreign = await generateCa('other-ca');
    foreignUser = await generateClientCert({ ca: foreign, commonName: 'mallory', organizations: ['system:masters'] });
    server = await serve(createAuthenticator({ clientCa: pki.caCert, tokens }), pki.caCert);
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dataDir, { recursive: true, force: true });
  });

  it('maps a verified client certificate to CN/O', async () => {
    assert.deepEqual(await call(port, { cert: pki.adminCert, key: pki.adminKey }), {
      username: 'admin',
      groups: ['system:masters', 'system:authenticated'],
    });
  });

  it('supports several O= groups', async () => {
    const c = await generateClientCert({ ca: { cert: pki.caCert, key: pki.caKey }, commonName: 'system:node:n1', organizations: ['system:nodes', 'edge'] });
    assert.deepEqual(await call(port, c), { username: 'system:node:n1', groups: ['system:nodes', 'edge', 'system:authenticated'] });
  });

  it('remembers each certificate apart over new connections (the outcome is cached by certificate)', async () => {
    const n3 = await generateClientCert({ ca: { cert: pki.caCert, key: pki.caKey }, commonName: 'system:node:n3', organizations: ['system:nodes'] });
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await call(port, n3), { username: 'system:node:n3', groups: ['system:nodes', 'system:authenticated'] });
      assert.deepEqual(await call(port, { cert: pki.adminCert, key: pki.adminKey }), { username: 'admin', groups: ['system:masters', 'system:authenticated'] });
      assert.equal(await call(port, foreignUser), null, 'an untrusted certificate stays untrusted');
    }
  });

  it('maps a bearer token', async () => {
    const t = await tokens.createNodeToken('n2');
    assert.deepEqual(await call(port, { token: t }), {
      username: 'system:node:n2',
      uid: 'node:n2',
      groups: ['system:nodes', 'system:authenticated'],
    });
  });

  it('leaves anonymous: no credentials, unknown token, certificate from another CA', async () => {
    assert.equal(await call(port, {}), null);
    assert.equal(await call(port, { token: 'not-a-token' }), null);
    assert.equal(await call(port, foreignUser), null);
  });

  it('a foreign cert plus a good token is the token user', async () => {
    const t = await tokens.createNodeToken('n3');
    assert.equal(((await call(port, { ...foreignUser, token: t })) as { username: string }).username, 'system:node:n3');
  });

  it('ignores certificates the TLS layer accepted but clientCa does not list', async () => {
    const wide = await serve(createAuthenticator({ clientCa: pki.caCert, tokens }), `${pki.caCert}\n${foreign.cert}`);
    try {
      const p = (wide.address() as { port: number }).port;
      assert.equal(await call(p, foreignUser), null);
      assert.equal(((await call(p, { cert: pki.adminCert, key: pki.adminKey })) as { username: string }).username, 'admin');
    } finally {
      wide.closeAllConnections();
      await new Promise((r) => wide.close(r));
    }
  });

  it('keeps answering per request on a reused connection', async () => {
    const c = { cert: pki.adminCert, key: pki.adminKey };
    for (let i = 0; i < 3; i++) assert.equal(((await call(port, c, true)) as { username: string }).username, 'admin');
  });
});
