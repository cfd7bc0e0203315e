import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { writeKubeconfig } from './kubeconfig.ts';
import { ensurePki, type Pki } from './pki.ts';

const KUBECTL = ['/usr/bin/kubectl', join(process.cwd(), '.tools/bin/kubectl')].find((p) => existsSync(p));

describe('writeKubeconfig', () => {
  let dataDir: string;
  let pki: Pki;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'hedge-kubeconfig-'));
    pki = await ensurePki({ dataDir, hosts: [] });
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('writes a standalone 0600 kubeconfig with context hedge', async () => {
    const path = join(dataDir, 'kubeconfig');
    await writeKubeconfig(path, {
      server: 'https://127.0.0.1:6443',
      caCert: pki.caCert,
      credentials: { clientCert: pki.adminCert, clientKey: pki.adminKey },
    });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const doc = parse(await readFile(path, 'utf8'));
    assert.equal(doc['current-context'], 'hedge');
    assert.equal(doc.clusters[0].cluster.server, 'https://127.0.0.1:6443');
    assert.equal(Buffer.from(doc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), pki.caCert);
    assert.equal(Buffer.from(doc.users[0].user['client-key-data'], 'base64').toString(), pki.adminKey);
    assert.deepEqual(doc.contexts[0], { name: 'hedge', context: { cluster: 'hedge', user: 'hedge-admin' } });
  });

  it('kubectl verifies the server and presents the admin certificate', { skip: KUBECTL === undefined && 'no kubectl' }, async () => {
    const seen: string[] = [];
    const server = createServer(
      { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        seen.push(`${(req.socket as TLSSocket).getPeerCertificate().subject.CN} ${req.url}`);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ major: '1', minor: '32', gitVersion: 'v1.32.0-hedge', platform: 'linux/amd64' }));
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      for (const host of ['127.0.0.1', 'localhost']) {
        const path = join(dataDir, `kubeconfig-${host}`);
        await writeKubeconfig(path, {
          server: `https://${host}:${port}`,
          caCert: pki.caCert,
          credentials: { clientCert: pki.adminCert, clientKey: pki.adminKey },
        });
        const out = await new Promise<string>((resolve, reject) =>
          execFile(KUBECTL!, ['--kubeconfig', path, 'version', '-o', 'json'], { timeout: 20_000 }, (err, stdout, stderr) =>
            err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
          ),
        );
        assert.equal(JSON.parse(out).serverVersion.gitVersion, 'v1.32.0-hedge');
      }
      assert.ok(seen.length >= 2 && seen.every((s) => s.startsWith('admin /version')), seen.join('\n'));
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
