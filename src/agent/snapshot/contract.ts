/**
 * The one behaviour suite every Snapshotter passes (overlay directories, microVM block images)
 * and so does the in-memory fake the agent tests use. Content checks need the fixture's `fs`
 * (mounting: root); an implementation without content (the fake) skips them with the reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isHedgeError, type ErrorCode } from '../../lib/errors.ts';
import type { Mount, Snapshotter } from './types.ts';

export interface SnapshotFs {
  /** write `rel` (a path inside the snapshot) through the mounts of an active snapshot */
  write(mounts: Mount[], rel: string, data: string): Promise<void>;
  /** delete `rel` through the mounts of an active snapshot */
  remove(mounts: Mount[], rel: string): Promise<void>;
  /** read `rel` through any mounts; undefined when absent */
  read(mounts: Mount[], rel: string): Promise<string | undefined>;
}

export interface SnapshotterUnderTest {
  snapshotter: Snapshotter;
  /** how to look through the mounts; undefined = no content (with the reason in `noFs`) */
  fs?: SnapshotFs;
  noFs?: string;
  cleanup(): Promise<void>;
}

export interface SnapshotterContractOptions {
  skip?: string | undefined;
}

function code(c: ErrorCode): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isHedgeError(err, c), `expected HedgeError ${c}, got ${String(err)}`);
    return true;
  };
}

export function runSnapshotterContract(name: string, make: () => Promise<SnapshotterUnderTest>, opts: SnapshotterContractOptions = {}): void {
  describe(`Snapshotter contract: ${name}`, { skip: opts.skip ?? false, concurrency: false }, () => {
    let t: SnapshotterUnderTest | undefined;
    let n = 0;
    const s = (): Snapshotter => {
      assert.ok(t, 'fixture made');
      return t.snapshotter;
    };
    /** fresh keys per test: the suite shares one snapshotter */
    const k = (name: string): string => `${name}-${n}`;
    const it = (title: string, fn: () => Promise<void>): void => {
      test(title, { timeout: 120_000 }, async () => {
        n++;
        await fn();
      });
    };
    const itFs = (title: string, fn: (fs: SnapshotFs) => Promise<void>): void => {
      test(title, { timeout: 120_000 }, async (tc) => {
        n++;
        if (!t?.fs) {
          tc.skip(t?.noFs ?? 'no content access');
          return;
        }
        await fn(t.fs);
      });
    };

    before(async () => {
      t = await make();
    });
    after(async () => {
      await t?.cleanup();
    });

    it('prepare makes an active snapshot, commit turns it into a committed one with merged labels', async () => {
      const m = await s().prepare(k('a'), undefined, { labels: { x: '1' } });
      assert.ok(m.length > 0, 'mounts');
      const active = await s().stat(k('a'));
      assert.equal(active?.kind, 'active');
      assert.equal(active?.parent, undefined);
      assert.deepEqual(active?.labels, { x: '1' });
      assert.ok(active?.createdAt instanceof Date);
      assert.deepEqual(await s().mounts(k('a')), m, 'mounts of an active snapshot are what prepare returned');
      await s().commit(k('A'), k('a'), { labels: { y: '2' } });
      assert.equal(await s().stat(k('a')), undefined, 'the active key is gone');
      const c = await s().stat(k('A'));
      assert.equal(c?.kind, 'committed');
      assert.deepEqual(c?.labels, { x: '1', y: '2' });
      const keys = (await s().list()).map((i) => i.key);
      assert.ok(keys.includes(k('A')) && !keys.includes(k('a')));
      await s().remove(k('A'));
      assert.equal(await s().stat(k('A')), undefined);
    });

    it('parent chains: children record their parent; a view is read-only kind view', async () => {
      await s().prepare(k('l1'), undefined, {});
      await s().commit(k('L1'), k('l1'), {});
      await s().prepare(k('l2'), k('L1'), {});
      await s().commit(k('L2'), k('l2'), {});
      await s().view(k('v'), k('L2'), {});
      assert.equal((await s().stat(k('L2')))?.parent, k('L1'));
      const v = await s().stat(k('v'));
      assert.equal(v?.kind, 'view');
      assert.equal(v?.parent, k('L2'));
      assert.ok((await s().mounts(k('v'))).length > 0);
      for (const key of [k('v'), k('L2'), k('L1')]) await s().remove(key);
    });

    it('keys are unique: prepare, view and commit onto an existing key are AlreadyExists', async () => {
      await s().prepare(k('a'), undefined, {});
      await s().commit(k('A'), k('a'), {});
      await s().prepare(k('b'), k('A'), {});
      await assert.rejects(s().prepare(k('b'), k('A'), {}), code('AlreadyExists'));
      await assert.rejects(s().view(k('A'), undefined, {}), code('AlreadyExists'));
      await assert.rejects(s().commit(k('A'), k('b'), {}), code('AlreadyExists'));
      assert.equal((await s().stat(k('b')))?.kind, 'active', 'a refused commit leaves the active snapshot');
      await s().remove(k('b'));
      await s().remove(k('A'));
    });

    it('a parent must exist and be committed; only active snapshots commit', async () => {
      await assert.rejects(s().prepare(k('a'), 'no-such-parent', {}), code('NotFound'));
      await assert.rejects(s().view(k('v'), 'no-such-parent', {}), code('NotFound'));
      assert.equal(await s().stat(k('a')), undefined, 'nothing half-made');
      await s().prepare(k('act'), undefined, {});
      await assert.rejects(s().prepare(k('b'), k('act'), {}), code('Invalid'));
      await s().commit(k('C'), k('act'), {});
      await s().view(k('v'), k('C'), {});
      await assert.rejects(s().commit(k('V'), k('v'), {}), code('Invalid'));
      await assert.rejects(s().commit(k('D'), k('C'), {}), code('Invalid'));
      await assert.rejects(s().commit(k('E'), 'no-such-active', {}), code('NotFound'));
      await s().remove(k('v'));
      await s().remove(k('C'));
    });

    it('a parent in use cannot be removed (Conflict); children first, then the parent; unknown keys are NotFound', async () => {
      await s().prepare(k('p'), undefined, {});
      await s().commit(k('P'), k('p'), {});
      await s().prepare(k('c'), k('P'), {});
      await s().view(k('v'), k('P'), {});
      await assert.rejects(s().remove(k('P')), code('Conflict'));
      assert.equal((await s().stat(k('P')))?.kind, 'committed', 'still there');
      await s().remove(k('c'));
      await assert.rejects(s().remove(k('P')), code('Conflict'), 'the view still uses it');
      await s().remove(k('v'));
      await s().remove(k('P'));
      await assert.rejects(s().remove(k('P')), code('NotFound'));
      await assert.rejects(s().mounts('no-such-key'), code('NotFound'));
      assert.equal(await s().stat('no-such-key'), undefined);
      const left = (await s().list()).map((i) => i.key).filter((key) => key.endsWith(`-${n}`));
      assert.deepEqual(left, []);
    });

    itFs('content: a child sees its parent, its own writes and deletions stay its own, a view shows the chain', async (fs) => {
      const base = await s().prepare(k('b'), undefined, {});
      await fs.write(base, 'etc/a', 'A');
      await fs.write(base, 'etc/gone', 'G');
      await s().commit(k('B'), k('b'), {});
      const child = await s().prepare(k('c'), k('B'), {});
      assert.equal(await fs.read(child, 'etc/a'), 'A', 'the child sees the parent');
      await fs.write(child, 'etc/b', 'B');
      await fs.write(child, 'etc/a', 'A2');
      await fs.remove(child, 'etc/gone');
      await s().commit(k('C'), k('c'), {});
      const vc = await s().view(k('vc'), k('C'), {});
      assert.equal(await fs.read(vc, 'etc/a'), 'A2');
      assert.equal(await fs.read(vc, 'etc/b'), 'B');
      assert.equal(await fs.read(vc, 'etc/gone'), undefined, 'a deletion in a layer hides the file below');
      const vb = await s().view(k('vb'), k('B'), {});
      assert.equal(await fs.read(vb, 'etc/a'), 'A', 'the parent is untouched');
      assert.equal(await fs.read(vb, 'etc/b'), undefined);
      assert.equal(await fs.read(vb, 'etc/gone'), 'G');
      assert.equal(await fs.read(await s().mounts(k('C')), 'etc/b'), 'B', 'a committed snapshot mounts with its chain');
      for (const key of [k('vc'), k('vb'), k('C'), k('B')]) await s().remove(key);
    });
  });
}
