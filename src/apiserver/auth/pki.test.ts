import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { certificateHosts, ensurePki } from './pki.ts';

describe('ensurePki', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'hedge-pki-'));
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates CA, serving and admin certificates with the right names, files and modes', async () => {
    const pki = await ensurePki({ dataDir, hosts: ['edge.example', '10.9.8.7'] });
    const ca = new X509Certificate(pki.caCert);
    assert.equal(ca.ca, true);
    const server = new X509Certificate(pki.serverCert);
    assert.ok(server.checkIssued(ca) && server.verify(ca.publicKey));
    assert.deepEqual(certificateHosts(pki.serverCert).sort(), ['10.9.8.7', '127.0.0.1', '::1', 'edge.example', 'localhost']);
    const admin = new X509Certificate(pki.adminCert);
    assert.ok(admin.checkIssued(ca) && admin.verify(ca.publicKey));
    assert.match(admin.subject, /CN=admin/);
    assert.match(admin.subject, /O=system:masters/);
    for (const key of [pki.paths.caKey, pki.paths.serverKey, pki.paths.adminKey]) {
      assert.equal((await stat(key)).mode & 0o777, 0o600, key);
    }
    assert.equal(await readFile(join(dataDir, 'pki', 'ca.crt'), 'utf8'), pki.caCert);
  });

  it('reuses everything on a second start with the same hosts', async () => {
    const a = await ensurePki({ dataDir, hosts: ['edge.example', '10.9.8.7'] });
    const b = await ensurePki({ dataDir, hosts: ['10.9.8.7', 'EDGE.example'] });
    assert.equal(b.caCert, a.caCert);
    assert.equal(b.serverCert, a.serverCert);
    assert.equal(b.adminCert, a.adminCert);
  });

  it('re-issues only the serving certificate when hosts change', async () => {
    const a = await ensurePki({ dataDir, hosts: ['edge.example', '10.9.8.7'] });
    const b = await ensurePki({ dataDir, hosts: ['other.example'] });
    assert.equal(b.caCert, a.caCert);
    assert.equal(b.adminCert, a.adminCert);
    assert.notEqual(b.serverCert, a.serverCert);
    assert.ok(certificateHosts(b.serverCert).includes('other.example'));
    assert.ok(!certificateHosts(b.serverCert).includes('edge.example'));
  });

  it('re-issues leaves when near expiry, and everything when the CA key is replaced', async () => {
    const a = await ensurePki({ dataDir, hosts: [] });
    const later = await ensurePki({ dataDir, hosts: [], now: new Date(Date.now() + 350 * 24 * 3600 * 1000) });
    assert.equal(later.caCert, a.caCert);
    assert.notEqual(later.serverCert, a.serverCert);
    assert.notEqual(later.adminCert, a.adminCert);
    await writeFile(join(dataDir, 'pki', 'ca.key'), 'garbage');
    const c = await ensurePki({ dataDir, hosts: [] });
    assert.notEqual(c.caCert, a.caCert);
    assert.ok(new X509Certificate(c.serverCert).checkIssued(new X509Certificate(c.caCert)));
    assert.ok(new X509Certificate(c.adminCert).verify(new X509Certificate(c.caCert).publicKey));
  });

  it('the certificates carry a mutual TLS handshake with node:tls', async () => {
    const pki = await ensurePki({ dataDir, hosts: [] });
    const server = createServer(
      { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert, requestCert: true, rejectUnauthorized: true },
      (s) => s.end(`hello ${(s as TLSSocket).getPeerCertificate().subject.CN}`),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      for (const host of ['127.0.0.1', 'localhost']) {
        const got = await new Promise<string>((resolve, reject) => {
          const c = connect({ host: '127.0.0.1', servername: host === '127.0.0.1' ? undefined : host, port, ca: pki.caCert, cert: pki.adminCert, key: pki.adminKey });
          let data = '';
          c.on('data', (d: Buffer) => (data += d.toString()));
          c.on('end', () => resolve(data));
          c.on('error', reject);
        });
        assert.equal(got, 'hello admin');
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
