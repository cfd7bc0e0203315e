import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalImageStore } from '../agent/image/index.ts';
import { startLocalControl } from '../agent/server/index.ts';
import { createLogger } from '../lib/log.ts';
import { buildTestImages, type TestImages } from './demo-images/index.ts';
import { controlSocketPath } from './image.ts';
import { runHedge } from './testing/run-hedge.ts';

describe('hedge image', () => {
  let dir: string;
  let imgs: TestImages;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-image-cli-'));
    imgs = await buildTestImages(join(dir, 'build'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('with no agent running: import a docker-archive and an OCI layout, list, remove', async () => {
    const dataDir = join(dir, 'stopped-node');
    const a = await runHedge(['image', 'import', imgs.dockerArchive, '--data-dir', dataDir]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^imported docker\.io\/hedge\/busybox:latest sha256:[0-9a-f]{64}$/m);
    const b = await runHedge(['image', 'import', imgs.layoutDir, '--data-dir', dataDir]);
    assert.equal(b.code, 0, b.stderr);
    const ls = await runHedge(['image', 'ls', '--data-dir', dataDir]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^IMAGE\s+DIGEST\s+SIZE$/m);
    assert.match(ls.stdout, /^docker\.io\/hedge\/busybox:latest\s+sha256:/m);
    const json = JSON.parse((await runHedge(['image', 'ls', '-o', 'json', '--data-dir', dataDir])).stdout) as { ref: string }[];
    assert.ok(json.length >= 2, JSON.stringify(json));
    // the agent opening the same data dir later sees them
    const store = await LocalImageStore.open({ root: join(dataDir, 'images') });
    assert.deepEqual((await store.list()).map((i) => i.ref).sort(), json.map((i) => i.ref).sort());
    const gone = await runHedge(['image', 'rm', 'docker.io/hedge/busybox:latest', '--data-dir', dataDir]);
    assert.equal(gone.code, 0, gone.stderr);
    const after = JSON.parse((await runHedge(['image', 'ls', '-o', 'json', '--data-dir', dataDir])).stdout) as { ref: string }[];
    assert.equal(after.some((i) => i.ref === 'docker.io/hedge/busybox:latest'), false);
    assert.equal(after.length, json.length - 1);
  });

  it('with the agent running: goes through its control socket, so the agent sees the image at once', async () => {
    const dataDir = join(dir, 'running-node');
    const store = await LocalImageStore.open({ root: join(dataDir, 'images') });
    const control = await startLocalControl({ socketPath: controlSocketPath(dataDir), images: store, logger: createLogger({ level: 'silent' }) });
    try {
      const r = await runHedge(['image', 'import', imgs.dockerArchive, '--data-dir', dataDir]);
      assert.equal(r.code, 0, r.stderr);
      // the in-process store (the "agent") has it without reopening anything
      assert.deepEqual((await store.list()).map((i) => i.ref), ['docker.io/hedge/busybox:latest']);
      const missing = await runHedge(['image', 'rm', 'nope:1', '--data-dir', dataDir]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /image "nope:1" not found/);
      const bad = await runHedge(['image', 'import', join(dir, 'no-such.tar'), '--data-dir', dataDir]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /no-such\.tar" does not exist/);
      assert.equal((await store.list()).length, 1, 'a failed import adds nothing');
    } finally {
      await control.close();
    }
  });

  it('bad usage exits 2', async () => {
    const r = await runHedge(['image', 'ls', '-o', 'yaml', '--data-dir', join(dir, 'x')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--output: "yaml" is not table or json/);
  });
});
