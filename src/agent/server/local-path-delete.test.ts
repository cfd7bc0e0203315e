import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../lib/log.ts';
import { LocalPathVolumes } from '../volumes/local-path.ts';
import { startNodeServer, type NodeServer } from './node-server.ts';

const TOKEN = 'sekret';

describe('node server: DELETE /volumes/local-path/<handle>', () => {
  let dir: string;
  let srv: NodeServer;
  let local: LocalPathVolumes;
  const del = async (handle: string, o: { token?: string; method?: string } = {}): Promise<{ status: number; body: Record<string, unknown> | string }> => {
    const r = await fetch(`http://127.0.0.1:${srv.port}/volumes/local-path/${handle}`, { method: o.method ?? 'DELETE', headers: o.token === '' ? {} : { Authorization: `Bearer ${o.token ?? TOKEN}` } });
    const text = await r.text();
    try {
      return { status: r.status, body: JSON.parse(text) as Record<string, unknown> };
    } catch {
      return { status: r.status, body: text };
    }
  };

  /** without fetch's URL normalization (it would resolve `..` itself) */
  const rawDelete = (handle: string): Promise<{ status: number; body: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: srv.port, method: 'DELETE', path: `/volumes/local-path/${handle}`, headers: { Authorization: `Bearer ${TOKEN}` } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, body: (text.startsWith('{') ? JSON.parse(text) : { text }) as Record<string, unknown> });
        });
      });
      req.on('error', reject);
      req.end();
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-lpdel-'));
    local = new LocalPathVolumes({ dataDir: dir });
    srv = await startNodeServer({ host: '127.0.0.1', port: 0, auth: { tokens: new Set([TOKEN]), clientCerts: false, authorization: 'AlwaysAllow' }, pods: { pods: () => [], locate: () => undefined }, localPath: local, logger: silentLogger() });
  });
  after(async () => {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is authenticated as the other write endpoints, and validates the handle', async () => {
    assert.equal((await del('pvc-1', { token: '' })).status, 401);
    assert.equal((await del('pvc-1', { token: 'wrong' })).status, 401);
    for (const bad of ['.hidden', 'UPPER', 'a%2Fb', '%zz', '', 'x'.repeat(254), 'a..b']) {
      const r = await rawDelete(bad);
      assert.equal(r.status, 400, `${bad}: ${JSON.stringify(r.body)}`);
      assert.deepEqual([r.body.kind, r.body.reason], ['Status', 'BadRequest']);
    }
    // `..` segments are resolved by the URL parser before routing: never a volume path
    for (const dots of ['..', '%2e%2e']) assert.equal((await rawDelete(dots)).status, 405);
    assert.equal((await rawDelete('a/b')).status, 405); // not a volume path
    assert.equal((await del('pvc-1', { method: 'POST' })).status, 405);
  });

  it('409 while a pod of the node has it mounted; then removes it, and 200 again when already gone', async () => {
    const path = await local.mount('pod-1', 'pvc-abc');
    await writeFile(join(path, 'data'), 'x');
    const busy = await del('pvc-abc');
    assert.equal(busy.status, 409);
    assert.deepEqual([(busy.body as { reason?: string }).reason, (busy.body as { code?: number }).code], ['Conflict', 409]);
    assert.match(String((busy.body as { message?: string }).message), /in use by 1 pod\(s\) on this node \(uid pod-1\)/);
    assert.ok((await stat(path)).isDirectory());
    await rm(join(dir, 'pods', 'pod-1'), { recursive: true }); // the pod torn down
    const ok = await del('pvc-abc');
    assert.equal(ok.status, 200);
    assert.equal((ok.body as { status?: string }).status, 'Success');
    await assert.rejects(stat(path));
    assert.equal((await del('pvc-abc')).status, 200);
    assert.equal((await del('pvc-never')).status, 200);
  });

  it('never follows a symlink out of <dataDir>/local-path', async () => {
    const outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'precious'), 'keep');
    // a symlink in the volume's place, and one inside a volume (a container can plant that)
    await mkdir(local.root, { recursive: true });
    await symlink(outside, join(local.root, 'pvc-link'));
    await assert.rejects(local.mount('pod-2', 'pvc-link'), /is a symlink; refusing to mount it/);
    await rm(join(dir, 'pods', 'pod-2'), { recursive: true });
    const inner = await local.mount('pod-3', 'pvc-inner');
    await symlink(outside, join(inner, 'escape'));
    await rm(join(dir, 'pods', 'pod-3'), { recursive: true });
    assert.equal((await del('pvc-link')).status, 200);
    assert.equal((await del('pvc-inner')).status, 200);
    assert.equal(await readFile(join(outside, 'precious'), 'utf8'), 'keep');
    await assert.rejects(stat(join(local.root, 'pvc-link')));
  });

  it('503 when the node cannot remove it now', async () => {
    await rm(local.root, { recursive: true, force: true });
    await writeFile(local.root, 'not a directory');
    const r = await del('pvc-x');
    assert.equal(r.status, 503);
    assert.equal((r.body as { reason?: string }).reason, 'ServiceUnavailable');
    await rm(local.root);
  });
});
