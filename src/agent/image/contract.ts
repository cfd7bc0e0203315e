/**
 * The one behaviour suite every ImageStore passes: the local store pulling from a real
 * docker-registry on loopback, and the in-memory fake the agent tests use. One store serves the
 * suite; tests pull what they need.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isHedgeError, type ErrorCode } from '../../lib/errors.ts';
import type { Snapshotter } from '../snapshot/types.ts';
import type { ImageStore } from './types.ts';

export interface ImageStoreUnderTest {
  store: ImageStore;
  /** what unpack writes into */
  snapshotter: Snapshotter;
  /** two different pullable images; `a` runs `cmd` */
  images: { a: { ref: string; cmd: string[] }; b: { ref: string } };
  /** a tag the registry does not have */
  missingRef: string;
  /** an archive (OCI layout or docker-archive) and the refs importing it records */
  importable: { path: string; refs: string[] };
  cleanup(): Promise<void>;
}

const sig = (): AbortSignal => AbortSignal.timeout(60_000);
const DIGEST = /^sha256:[a-f0-9]{64}$/;

function code(c: ErrorCode): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isHedgeError(err, c), `expected HedgeError ${c}, got ${String(err)}`);
    return true;
  };
}

export function runImageStoreContract(name: string, make: () => Promise<ImageStoreUnderTest>, opts: { skip?: string | undefined } = {}): void {
  describe(`ImageStore contract: ${name}`, { skip: opts.skip ?? false, concurrency: false }, () => {
    let t: ImageStoreUnderTest | undefined;
    const f = (): ImageStoreUnderTest => {
      assert.ok(t, 'fixture made');
      return t;
    };
    const it = (title: string, fn: () => Promise<void>): void => {
      test(title, { timeout: 120_000 }, fn);
    };
    before(async () => {
      t = await make();
    });
    after(async () => {
      await t?.cleanup();
    });

    it('pull answers with digests, the image config, layers and a size; pulling again gives the same image', async () => {
      const { a } = f().images;
      const info = await f().store.pull(a.ref, { signal: sig() });
      assert.equal(info.ref, a.ref);
      assert.match(info.digest, DIGEST);
      assert.match(info.id, DIGEST);
      assert.notEqual(info.digest, info.id, 'the manifest is not the config');
      assert.deepEqual(info.config.Cmd, a.cmd);
      assert.ok(info.layers.length > 0, 'layers');
      for (const l of info.layers) {
        assert.match(l.digest, DIGEST);
        assert.match(l.diffId, DIGEST);
        assert.ok(l.size > 0);
      }
      assert.ok(info.sizeBytes > 0);
      assert.ok(info.lastUsed instanceof Date);
      const again = await f().store.pull(a.ref, { signal: sig() });
      assert.equal(again.digest, info.digest);
      assert.equal(again.id, info.id);
    });

    it('resolve finds a pulled image by reference and by image id; list has it; an unknown one is undefined', async () => {
      const { a, b } = f().images;
      const ia = await f().store.pull(a.ref, { signal: sig() });
      const ib = await f().store.pull(b.ref, { signal: sig() });
      assert.notEqual(ia.digest, ib.digest);
      assert.equal((await f().store.resolve(a.ref))?.digest, ia.digest);
      assert.equal((await f().store.resolve(ia.id))?.ref, a.ref);
      assert.equal(await f().store.resolve(f().missingRef), undefined);
      const refs = (await f().store.list()).map((i) => i.ref);
      assert.ok(refs.includes(a.ref) && refs.includes(b.ref), JSON.stringify(refs));
    });

    it('a missing tag is NotFound and records nothing', async () => {
      await assert.rejects(f().store.pull(f().missingRef, { signal: sig() }), code('NotFound'));
      assert.equal(await f().store.resolve(f().missingRef), undefined);
    });

    it('remove forgets the image; removing it again is NotFound', async () => {
      const { b } = f().images;
      await f().store.pull(b.ref, { signal: sig() });
      await f().store.remove(b.ref);
      assert.equal(await f().store.resolve(b.ref), undefined);
      assert.ok(!(await f().store.list()).some((i) => i.ref === b.ref));
      await assert.rejects(f().store.remove(b.ref), code('NotFound'));
    });

    it('unpack commits the top snapshot in the snapshotter, once', async () => {
      const { a } = f().images;
      const info = await f().store.pull(a.ref, { signal: sig() });
      const top = await f().store.unpack(info, f().snapshotter, sig());
      const st = await f().snapshotter.stat(top);
      assert.equal(st?.kind, 'committed');
      const count = (await f().snapshotter.list()).length;
      assert.equal(await f().store.unpack(info, f().snapshotter, sig()), top);
      assert.equal((await f().snapshotter.list()).length, count, 'nothing unpacked twice');
      const mounts = await f().snapshotter.prepare('contract-ctr', top, {});
      assert.ok(mounts.length > 0, 'a container can start from it');
      await f().snapshotter.remove('contract-ctr');
    });

    it('import records the archive images; a path that does not exist is NotFound', async () => {
      const got = await f().store.import(f().importable.path, { signal: sig() });
      assert.deepEqual(got.map((i) => i.ref).sort(), [...f().importable.refs].sort());
      for (const r of f().importable.refs) assert.ok(await f().store.resolve(r), r);
      await assert.rejects(f().store.import('/nonexistent/hedge-image.tar', { signal: sig() }), code('NotFound'));
    });

    it('removeImages removes the named images and frees their bytes; unknown refs are skipped; setPinned marks an image', async () => {
      const { a, b } = f().images;
      const ia = await f().store.pull(a.ref, { signal: sig() });
      const ib = await f().store.pull(b.ref, { signal: sig() });
      assert.equal(await f().store.removeImages([], { signal: sig() }), 0);
      assert.ok(await f().store.resolve(b.ref), 'nothing named, nothing removed');
      const freed = await f().store.removeImages([ib.ref, 'example.invalid/none:1'], { signal: sig() });
      assert.ok(freed > 0, `freed ${freed}`);
      assert.equal(await f().store.resolve(b.ref), undefined, 'the named one went');
      assert.ok(await f().store.resolve(a.ref), 'the other stayed');
      await f().store.setPinned(ia.ref, true);
      assert.equal((await f().store.resolve(ia.ref))?.pinned, true);
      await f().store.setPinned(ia.ref, false);
      assert.equal((await f().store.resolve(ia.ref))?.pinned, undefined);
      await assert.rejects(f().store.setPinned('example.invalid/none:1', true), code('NotFound'));
    });
  });
}
