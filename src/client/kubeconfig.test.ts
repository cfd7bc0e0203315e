import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { isHedgeError } from '../lib/errors.ts';
import { connectionFromKubeconfig, loadKubeconfig } from './kubeconfig.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('embedded data: server, CA, client cert and key', async () => {
  const text = stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443/', 'certificate-authority-data': b64('CA') } }],
    users: [{ name: 'u', user: { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });
  assert.deepEqual(await connectionFromKubeconfig(text), {
    server: 'https://127.0.0.1:6443',
    ca: 'CA',
    cert: 'CERT',
    key: 'KEY',
    token: undefined,
    insecureSkipTLSVerify: false,
  });
});

test('file references resolve relative to the kubeconfig; token; named context', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kc-'));
  try {
    await writeFile(join(dir, 'ca.pem'), 'CAFILE');
    await writeFile(join(dir, 'tok'), 'secret\n');
    const path = join(dir, 'config');
    await writeFile(path, stringify({
      clusters: [{ name: 'c', cluster: { server: 'https://h:1', 'certificate-authority': 'ca.pem' } }],
      users: [{ name: 'u', user: { tokenFile: 'tok' } }, { name: 'v', user: { token: 'inline' } }],
      contexts: [{ name: 'a', context: { cluster: 'c', user: 'u' } }, { name: 'b', context: { cluster: 'c', user: 'v' } }],
      'current-context': 'a',
    }));
    const a = await loadKubeconfig(path);
    assert.equal(a.ca, 'CAFILE');
    assert.equal(a.token, 'secret');
    assert.equal((await loadKubeconfig(path, 'b')).token, 'inline');
    await assert.rejects(loadKubeconfig(path, 'zz'), (e) => isHedgeError(e, 'Invalid') && /context "zz"/.test(e.message));
    await assert.rejects(loadKubeconfig(join(dir, 'nope')), (e) => isHedgeError(e, 'NotFound'));
  } finally {
    await rm(dir, { recursive: true });
  }
});
