/**
 * The hub's disk fills up. Its data dir is a small tmpfs this test mounts (root only), filled with
 * a file until ENOSPC:
 * - offline, journaled writes either succeed (and then reach the cloud exactly once) or get a 503
 *   Status that says the disk is full (and then never reach the cloud): never a fake success;
 *   the journal and the replica stay intact (SQLite integrity_check, earlier entries there), and
 *   once space is freed new writes journal and everything replays;
 * - online, the replica cannot store what the cloud sends: a write the cloud accepted is answered
 *   as accepted, and once space is freed the replica catches up with the cloud, object for object.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { KubeObject } from '../api/object.ts';
import { Resources } from '../client/resources.ts';
import { isHedgeError } from '../lib/errors.ts';
import { HubDb } from './hub-db.ts';
import { nodePod, startHubRig, until, type HubRig } from './testing/hub-rig.ts';

const NODE = 'edge-full';
const onNode = `spec.nodeName=${NODE}`;

const event = (message: string): KubeObject =>
  ({ metadata: { generateName: 'full.', namespace: 'default' }, involvedObject: { kind: 'Node', name: NODE }, reason: 'DiskFull', message, type: 'Normal' }) as KubeObject;

/** a 503 that names the full disk: what a refused write must look like */
const diskFullStatus = (err: unknown): boolean => isHedgeError(err, 'Unavailable') && /disk is full/.test(err.message);

/** fills the filesystem of `dir` with `<dir>/filler` until ENOSPC */
async function fill(dir: string): Promise<void> {
  const f = await open(join(dir, 'filler'), 'a');
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          await f.write(chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    await f.close();
  }
}

const free = (dir: string): Promise<void> => unlink(join(dir, 'filler'));

function integrity(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

/** messages of this test's Events in the cloud, with how often each is there */
async function cloudMessages(r: HubRig): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const e of (await r.admin.list(Resources.events, { namespace: 'default' })).items) {
    if ((e as { reason?: string }).reason !== 'DiskFull') continue;
    const m = String((e as { message?: string }).message ?? '');
    out.set(m, (out.get(m) ?? 0) + 1);
  }
  return out;
}

const phaseMessage = (o: KubeObject | undefined): string | undefined => (o?.status as { message?: string } | undefined)?.message;

let mountSkip: string | undefined;
describe('edgehub: disk full', () => {
  let dir = '';
  let hubDir = '';
  let r: HubRig | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgehub-diskfull-'));
    hubDir = join(dir, 'hub');
    await mkdir(hubDir, { mode: 0o700 });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', `hedge-hubfull-${process.pid}`, hubDir], { stdio: 'pipe' });
    } catch (err) {
      mountSkip = `cannot mount a tmpfs (needs root): ${(err as Error).message.split('\n')[0]}`;
      return;
    }
    r = await startHubRig({
      nodeName: NODE,
      dir,
      seed: async (admin) => {
        for (const n of ['p1', 'p2']) await admin.create(Resources.pods, nodePod(NODE, n));
      },
      // the real replica store: SQLite in the hub's dir, on the small filesystem
      hub: { healthIntervalMs: 100, healthTimeoutMs: 500 },
      requestTimeoutMs: 30_000,
    });
    const rig = r;
    await until('pods replicated', async () => (await rig.local.list(Resources.pods, { fieldSelector: onNode })).items.length === 2, 20_000);
  });

  after(async () => {
    await r?.close().catch(() => undefined);
    if (!mountSkip) execFileSync('umount', [hubDir]);
    await rm(dir, { recursive: true, force: true });
  });

  it('offline: journaled writes are recorded or refused with a 503, never faked; nothing corrupted; everything replays once space is back', { timeout: 180_000 }, async (t) => {
    if (mountSkip || !r) return t.skip(mountSkip);
    const { link, hub, local } = r;
    link.cut();
    await hub.waitFor('offline');
    await local.create(Resources.events, event('before-full'));
    await local.patch(Resources.pods, 'p1', 'merge', { status: { message: 'before-full' } }, { namespace: 'default', subresource: 'status' });

    await fill(hubDir);
    const accepted: string[] = [];
    const refused: string[] = [];
    let lastStatus = 'before-full';
    for (let i = 0; i < 40; i++) {
      const m = `full-${i}`;
      try {
        if (i % 2 === 0) await local.create(Resources.events, event(m));
        else await local.patch(Resources.pods, 'p1', 'merge', { status: { message: m, padding: 'x'.repeat(4_000) } }, { namespace: 'default', subresource: 'status' });
        accepted.push(m);
        if (i % 2 === 1) lastStatus = m;
      } catch (err) {
        assert.ok(diskFullStatus(err), `a refused write is a 503 naming the full disk: ${String(err)}`);
        refused.push(m);
      }
    }
    t.diagnostic(`disk full: ${accepted.length} writes still recorded, ${refused.length} refused`);
    assert.ok(refused.length >= 30, `the full disk refused writes: ${refused.length}`);
    // local reads still answer, and show exactly the accepted writes
    assert.equal(phaseMessage(await local.get(Resources.pods, 'p1', { namespace: 'default' })), lastStatus);
    // nothing corrupted while full
    for (const f of ['hub.db', 'replica.db']) assert.equal(integrity(join(hubDir, f)), 'ok', f);

    await free(hubDir);
    await local.create(Resources.events, event('after-free'));
    await local.patch(Resources.pods, 'p1', 'merge', { status: { message: 'after-free', padding: null } }, { namespace: 'default', subresource: 'status' });
    // the journal opens cleanly beside the hub and holds the earlier entries, in order
    const db = new HubDb(join(hubDir, 'hub.db'));
    const pending = db.pending().map((p) => (p.entry.kind === 'create' ? String((p.entry.object as { message?: string }).message) : JSON.stringify(p.entry.kind === 'patch' ? p.entry.patch : null)));
    db.close();
    assert.equal(pending[0], 'before-full');
    assert.ok(pending[1]?.includes('before-full'));
    assert.equal(pending.at(-2), 'after-free');
    assert.ok(pending.at(-1)?.includes('after-free'));
    assert.equal(pending.length, 4 + accepted.length);

    link.restore();
    await until('journal replayed', () => hub.state() === 'online' && hub.db.pendingCount() === 0, 60_000);
    const counts = await cloudMessages(r);
    for (const m of ['before-full', 'after-free', ...accepted.filter((m) => Number(m.split('-')[1]) % 2 === 0)]) assert.equal(counts.get(m), 1, `event ${m} delivered once`);
    for (const m of refused) assert.equal(counts.get(m), undefined, `refused ${m} never reaches the cloud`);
    const p1 = await r.admin.get(Resources.pods, 'p1', { namespace: 'default' });
    assert.equal(phaseMessage(p1), 'after-free');
  });

  it('online: the replica cannot store what the cloud sends; the cloud answer stands, and the replica catches up once space is back', { timeout: 180_000 }, async (t) => {
    if (mountSkip || !r) return t.skip(mountSkip);
    const { hub, local, admin } = r;
    await hub.waitFor('online');
    await fill(hubDir);
    // cloud-side changes the reflectors cannot store now
    await admin.create(Resources.pods, nodePod(NODE, 'p3'));
    await admin.patch(Resources.pods, 'p2', 'merge', { metadata: { labels: { changed: 'while-full' } } }, { namespace: 'default' });
    await admin.delete(Resources.pods, 'p1', { namespace: 'default', gracePeriodSeconds: 0 });
    // a node write the cloud accepts: answered as accepted (or refused, but then not in the cloud)
    let answered: KubeObject | undefined;
    let error: unknown;
    try {
      answered = await local.patch(Resources.pods, 'p2', 'merge', { status: { message: 'online-while-full' } }, { namespace: 'default', subresource: 'status' });
    } catch (err) {
      error = err;
    }
    const inCloud = phaseMessage(await admin.get(Resources.pods, 'p2', { namespace: 'default' })) === 'online-while-full';
    assert.equal(inCloud, answered !== undefined, `the answer tells the truth (answer ${answered ? 'ok' : String(error)}, in the cloud: ${inCloud})`);
    assert.ok(answered === undefined || phaseMessage(answered) === 'online-while-full');
    for (const f of ['hub.db', 'replica.db']) assert.equal(integrity(join(hubDir, f)), 'ok', f);

    await free(hubDir);
    const view = (items: KubeObject[]): string =>
      JSON.stringify(items.map((p) => [p.metadata.name, p.metadata.uid, p.metadata.labels ?? {}, p.status ?? {}]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
    await until(
      'the replica equals the cloud',
      async () => view((await local.list(Resources.pods, { fieldSelector: onNode })).items) === view((await admin.list(Resources.pods, { fieldSelector: onNode })).items),
      60_000,
    );
    for (const p of (await admin.list(Resources.pods, { fieldSelector: onNode })).items) {
      assert.equal(hub.db.cloudVersion(hub.replica.key(Resources.pods, 'default', p.metadata.name ?? ''))?.cloudRv, p.metadata.resourceVersion, `cloud rv behind ${p.metadata.name}`);
    }
  });
});
