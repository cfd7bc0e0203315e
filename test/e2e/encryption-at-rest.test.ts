/**
 * `hedge server --encryption-provider-config` on the real etcd, driven by kubectl: what etcd holds is
 * upstream's aesgcm layout (checked by decrypting it here with node:crypto, independently of the
 * server's code), key rotation with `kubectl get -o json | kubectl replace -f -`, and a bad config
 * refused at start naming the field.
 */
import assert from 'node:assert/strict';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { runHedge } from '../../src/cli/testing/run-hedge.ts';
import { startEtcd, type EtcdProcess } from '../../src/store/etcd/etcd-process.ts';
import { findKubectl, startHedgeServer, type HedgeServer } from './harness.ts';

const ETCD = '/usr/bin/etcd';
const skip = !existsSync(ETCD) ? `${ETCD} not installed (scripts/setup.sh installs etcd-server)` : findKubectl() === undefined ? 'no kubectl' : false;

const KEY = '/registry/core/secrets/default/s1';
const PASSWORD = 'e2e-hunter2-secret';

describe('encryption at rest on etcd', { skip }, () => {
  let etcd: EtcdProcess;
  let client: Etcd3;
  let dir: string;
  const servers: HedgeServer[] = [];
  /** the first server's harness-made data dir, removed at the end (the restarts reuse it) */
  let owner: HedgeServer | undefined;
  const key1 = randomBytes(32);
  const key2 = randomBytes(32);

  const configFile = async (name: string, providers: string): Promise<string> => {
    const f = join(dir, name);
    await writeFile(f, `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n${providers}`);
    return f;
  };
  const gcm = (name: string, k: Buffer): string => `      - aesgcm: { keys: [{ name: ${name}, secret: ${k.toString('base64')} }] }\n`;
  const start = async (config: string, dataDir?: string): Promise<HedgeServer> => {
    const s = await startHedgeServer({ store: 'etcd', dataDir, extraArgs: ['--etcd-servers', etcd.endpoint, '--etcd-prefix', '/enc', '--no-controllers', '--encryption-provider-config', config] });
    servers.push(s);
    owner ??= s;
    return s;
  };
  const stop = async (s: HedgeServer): Promise<void> => {
    await s.stop({ graceMs: 5000 });
    servers.splice(servers.indexOf(s), 1);
  };
  const raw = async (): Promise<Buffer> => {
    const v = await client.get(`/enc${KEY}`).buffer();
    assert.ok(v, 'the key is in etcd');
    return v;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-e2e-enc-'));
    etcd = await startEtcd(ETCD);
    client = new Etcd3({ hosts: etcd.endpoint });
  });
  after(async () => {
    for (const s of [...servers].reverse()) await s.stop({ graceMs: 5000 }).catch(() => undefined);
    await owner?.cleanup();
    client?.close();
    await etcd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('etcd holds upstream\'s aesgcm layout; kubectl reads it; replace rotates to the new key', async () => {
    let s = await start(await configFile('one.yaml', gcm('key1', key1)));
    const created = await s.kubectl(['create', 'secret', 'generic', 's1', `--from-literal=password=${PASSWORD}`]);
    assert.equal(created.code, 0, created.stderr);

    const stored = await raw();
    const prefix = 'k8s:enc:aesgcm:v1:key1:';
    assert.equal(stored.subarray(0, prefix.length).toString('latin1'), prefix);
    assert.ok(!stored.includes(PASSWORD) && !stored.includes(Buffer.from(PASSWORD).toString('base64')), 'no plaintext in etcd');
    // nonce(12) | ciphertext | tag(16), the storage key as authenticated data
    const body = stored.subarray(prefix.length);
    const d = createDecipheriv('aes-256-gcm', key1, body.subarray(0, 12));
    d.setAAD(Buffer.from(KEY));
    d.setAuthTag(body.subarray(body.length - 16));
    const plain = JSON.parse(Buffer.concat([d.update(body.subarray(12, body.length - 16)), d.final()]).toString()) as { data: { password: string } };
    assert.equal(Buffer.from(plain.data.password, 'base64').toString(), PASSWORD);

    const got = await s.kubectl(['get', 'secret', 's1', '-o', 'jsonpath={.data.password}']);
    assert.equal(Buffer.from(got.stdout, 'base64').toString(), PASSWORD, got.stderr);

    // rotation: key2 first, key1 still read; rewrite everything; key1 removed
    await stop(s);
    s = await start(await configFile('two.yaml', gcm('key2', key2) + gcm('key1', key1)), s.dataDir);
    const all = await s.kubectl(['get', 'secrets', '-A', '-o', 'json']);
    assert.equal(all.code, 0, all.stderr);
    const replaced = await s.kubectl(['replace', '-f', '-'], { input: all.stdout });
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.equal((await raw()).subarray(0, 23).toString('latin1'), 'k8s:enc:aesgcm:v1:key2:');
    await stop(s);
    s = await start(await configFile('three.yaml', gcm('key2', key2)), s.dataDir);
    const after = await s.kubectl(['get', 'secret', 's1', '-o', 'jsonpath={.data.password}']);
    assert.equal(Buffer.from(after.stdout, 'base64').toString(), PASSWORD, after.stderr);

    // without the key: the read is an internal error naming the key
    await stop(s);
    s = await start(await configFile('wrong.yaml', gcm('key3', randomBytes(32))), s.dataDir);
    const denied = await s.kubectl(['get', 'secret', 's1']);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /unable to transform key "\/registry\/core\/secrets\/default\/s1".*k8s:enc:aesgcm:v1:key2:/);
  });

  it('refuses to start with a bad config, naming the file and the field', async () => {
    const bad = await configFile('bad.yaml', `      - aescbc: { keys: [{ name: k, secret: ${randomBytes(20).toString('base64')} }] }\n      - kms: { name: x, endpoint: 'unix:///k.sock' }\n`);
    const dataDir = await mkdtemp(join(tmpdir(), 'hedge-enc-bad-'));
    const r = await runHedge(['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--store', 'memory', '--encryption-provider-config', bad]).finally(() => rm(dataDir, { recursive: true, force: true }));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--encryption-provider-config .*bad\.yaml: resources\[0\]\.providers\[0\]\.aescbc\.keys\[0\]\.secret: Invalid value: "REDACTED": secret is not of the expected length, got 20/);
    // a kms provider without apiVersion is KMS v1, which upstream 1.32 refuses unless its feature gate is on
    assert.match(r.stderr, /resources\[0\]\.providers\[1\]\.kms\.apiVersion: Invalid value: "v1": KMSv1 is deprecated/);
  });
});
