import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { silentLogger } from '../../lib/log.ts';
import { eventually } from '../podsync/testing/harness.ts';
import { StaticPodSource } from './file-source.ts';

const manifest = (name: string, image = 'busybox:1') => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n  - name: main\n    image: ${image}\n`;

describe('StaticPodSource: a directory of manifests, watched and re-read', () => {
  let tmp = '';
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hedge-static-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('reads at start, then follows adds, edits, bad files and removes; an unchanged file keeps its pod', async () => {
    const dir = join(tmp, 'manifests');
    await mkdir(dir);
    await writeFile(join(dir, 'a.yaml'), manifest('a'));
    await writeFile(join(dir, '.hidden.yaml'), manifest('hidden'));
    await writeFile(join(dir, 'notes.txt'), 'not a manifest');
    const invalid: string[] = [];
    const sets: Pod[][] = [];
    // a long rescan: what follows must come from the watch
    const source = new StaticPodSource({ dir, nodeName: 'n1', logger: silentLogger(), rescanMs: 60_000, onInvalid: (file, error) => invalid.push(`${file}: ${error}`) });
    const ac = new AbortController();
    const running = source.run(ac.signal, (pods) => sets.push(pods));
    const names = (): string[] => (sets.at(-1) ?? []).map((p) => p.metadata?.name ?? '').sort();
    try {
      await eventually(() => sets.length === 1, 'the first read');
      assert.deepEqual(names(), ['a-n1']);
      const first = sets[0]![0]!;

      // an add: written elsewhere and renamed in, as a careful writer does
      await writeFile(join(tmp, 'b.tmp'), manifest('b'));
      await rename(join(tmp, 'b.tmp'), join(dir, 'b.yml'));
      await eventually(() => names().length === 2, 'b added');
      assert.deepEqual(names(), ['a-n1', 'b-n1']);
      const a = sets.at(-1)!.find((p) => p.metadata?.name === 'a-n1')!;
      assert.equal(a, first, 'an unchanged file keeps its pod (UID and config.seen)');

      // an edit: a new UID for the same name
      await writeFile(join(dir, 'a.yaml'), manifest('a', 'busybox:2'));
      await eventually(() => sets.at(-1)!.find((p) => p.metadata?.name === 'a-n1')?.metadata?.uid !== first.metadata?.uid, 'a replaced');
      assert.equal(sets.at(-1)!.find((p) => p.metadata?.name === 'a-n1')?.spec?.containers[0]?.image, 'busybox:2');

      // a bad file is reported once and skipped; the good ones stay
      const before = sets.length;
      await writeFile(join(dir, 'bad.json'), '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad"},"spec":{"containers":[]}}');
      await eventually(() => invalid.length === 1, 'bad.json reported');
      assert.match(invalid[0]!, /bad\.json: static pod manifest .*bad\.json: spec\.containers: Required value/);
      await source.scan();
      assert.equal(invalid.length, 1, 'once per content, not per read');
      assert.equal(sets.length, before, 'nothing changed for the pods');

      // a remove
      await rm(join(dir, 'b.yml'));
      await eventually(() => names().length === 1, 'b removed');
      assert.deepEqual(names(), ['a-n1']);
    } finally {
      ac.abort();
      await running;
    }
  });

  it('a missing directory has no pods and is picked up by the rescan once made; a second file of the same pod name is ignored', async () => {
    const dir = join(tmp, 'later');
    const sets: Pod[][] = [];
    const source = new StaticPodSource({ dir, nodeName: 'n1', logger: silentLogger(), rescanMs: 50 });
    const ac = new AbortController();
    const running = source.run(ac.signal, (pods) => sets.push(pods));
    try {
      await eventually(() => sets.length === 1, 'the first read');
      assert.deepEqual(sets[0], []);
      await mkdir(dir);
      await writeFile(join(dir, '1.yaml'), manifest('same'));
      await writeFile(join(dir, '2.yaml'), manifest('same', 'busybox:9'));
      await eventually(() => (sets.at(-1) ?? []).length === 1, 'the directory read');
      await source.scan();
      const pods = source.pods();
      assert.equal(pods.length, 1);
      assert.equal(pods[0]?.spec?.containers[0]?.image, 'busybox:1', 'the first file (by name) wins, as upstream keeps the first');
    } finally {
      ac.abort();
      await running;
    }
  });
});
