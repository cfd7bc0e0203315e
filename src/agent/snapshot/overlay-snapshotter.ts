import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { alreadyExists, conflict, HedgeError, notFound } from '../../lib/errors.ts';
import type { Mount, SnapshotInfo, SnapshotKind, Snapshotter } from './types.ts';

interface Record_ {
  id: number;
  kind: SnapshotKind;
  parent?: string;
  createdAt: string;
  labels: Record<string, string>;
  sizeBytes?: number;
}

interface Metadata {
  nextId: number;
  snapshots: Record<string, Record_>;
}

export interface OverlaySnapshotterOptions {
  /** state lives under `<root>/snapshots/<id>/{fs,work}` and `<root>/metadata.json` */
  root: string;
}

/**
 * containerd's overlayfs snapshotter, in small: each snapshot is a numbered directory; committed
 * ones are the lowerdirs of their children. Metadata is one JSON file replaced atomically
 * (tmp + rename) after every change; directories not in it are leftovers of a crash and are
 * removed on open, and a directory is only deleted after its record is gone.
 */
export class OverlaySnapshotter implements Snapshotter {
  readonly root: string;
  private meta: Metadata = { nextId: 1, snapshots: {} };
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(root: string) {
    this.root = root;
  }

  static async open(opts: OverlaySnapshotterOptions): Promise<OverlaySnapshotter> {
    const s = new OverlaySnapshotter(opts.root);
    await mkdir(join(opts.root, 'snapshots'), { recursive: true });
    try {
      s.meta = JSON.parse(await readFile(s.metaPath(), 'utf8')) as Metadata;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const known = new Set(Object.values(s.meta.snapshots).map((r) => String(r.id)));
    for (const name of await readdir(join(opts.root, 'snapshots'))) {
      if (!known.has(name)) await rm(join(opts.root, 'snapshots', name), { recursive: true, force: true });
    }
    return s;
  }

  private metaPath(): string {
    return join(this.root, 'metadata.json');
  }

  /** the directory holding a snapshot's files: the upperdir of an active one, a lowerdir of a committed one */
  fsPath(key: string): string {
    const r = this.meta.snapshots[key];
    if (!r) throw notFound('snapshot', key);
    return join(this.root, 'snapshots', String(r.id), 'fs');
  }

  /**
   * Synchronous inside, as host/atomic-fs.ts's writeFileAtomic and for the same reason: a small
   * file on local disk (no fsync), and a container's snapshot is on its pod's start path, where
   * each call through libuv's thread pool waited its turn behind the pod's other work.
   */
  private async save(): Promise<void> {
    const tmp = `${this.metaPath()}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.meta));
    renameSync(tmp, this.metaPath());
  }

  /** the save in progress, and the one queued behind it (which every change made meanwhile joins) */
  private saving: Promise<void> | undefined;
  private queuedSave: Promise<void> | undefined;

  /**
   * Resolves once metadata.json holds every change made before the call. Saves run one at a time
   * (the file always ends with the latest state) and a save covers every change made before it
   * started: pods starting side by side (after a reboot) share writes instead of queueing one each.
   */
  private persist(): Promise<void> {
    if (this.queuedSave) return this.queuedSave;
    const next: Promise<void> = (this.saving ?? Promise.resolve())
      .catch(() => undefined)
      .then(async () => {
        this.queuedSave = undefined;
        this.saving = next;
        try {
          await this.save();
        } finally {
          if (this.saving === next) this.saving = undefined;
        }
      });
    this.queuedSave = next;
    return next;
  }

  /** one mutation at a time: metadata is read-modify-write */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private chain(key: string | undefined): string[] {
    const out: string[] = [];
    for (let k = key; k !== undefined; k = this.meta.snapshots[k]?.parent) {
      if (!this.meta.snapshots[k]) throw notFound('snapshot', k);
      out.push(this.fsPath(k));
    }
    return out;
  }

  /**
   * Not in the serial queue: the checks and the record are synchronous, the directory is made
   * before the record names it (a crash leaves an unnamed directory, removed on open) and the
   * metadata write is shared with whatever else changed meanwhile (persist).
   */
  private async create(key: string, parent: string | undefined, kind: 'active' | 'view', labels: Record<string, string>): Promise<Mount[]> {
    const check = (): void => {
      if (this.meta.snapshots[key]) throw alreadyExists('snapshot', key);
      if (parent !== undefined) {
        const p = this.meta.snapshots[parent];
        if (!p) throw notFound('snapshot', parent);
        if (p.kind !== 'committed') throw new HedgeError('Invalid', `snapshot "${parent}" is ${p.kind}, a parent must be committed`);
      }
    };
    check();
    const id = this.meta.nextId++;
    const dir = join(this.root, 'snapshots', String(id));
    try {
      // synchronous: two mkdirs (see save)
      mkdirSync(join(dir, 'fs'), { recursive: true, mode: 0o755 });
      if (kind === 'active') mkdirSync(join(dir, 'work'), { mode: 0o700 });
      // the key taken or the parent removed while the directory was made
      check();
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    this.meta.snapshots[key] = { id, kind, ...(parent !== undefined ? { parent } : {}), createdAt: new Date().toISOString(), labels };
    try {
      await this.persist();
    } catch (err) {
      delete this.meta.snapshots[key];
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return this.mountsOf(key);
  }

  async prepare(key: string, parent: string | undefined, opts: { labels?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Mount[]> {
    opts.signal?.throwIfAborted();
    return await this.create(key, parent, 'active', opts.labels ?? {});
  }

  async view(key: string, parent: string | undefined, opts: { signal?: AbortSignal } = {}): Promise<Mount[]> {
    opts.signal?.throwIfAborted();
    return await this.create(key, parent, 'view', {});
  }

  async commit(name: string, activeKey: string, opts: { labels?: Record<string, string>; signal?: AbortSignal } = {}): Promise<void> {
    opts.signal?.throwIfAborted();
    await this.serial(async () => {
      const r = this.meta.snapshots[activeKey];
      if (!r) throw notFound('snapshot', activeKey);
      if (r.kind !== 'active') throw new HedgeError('Invalid', `snapshot "${activeKey}" is ${r.kind}, only active snapshots can be committed`);
      if (this.meta.snapshots[name]) throw alreadyExists('snapshot', name);
      const sizeBytes = await duBytes(join(this.root, 'snapshots', String(r.id), 'fs'));
      const committed: Record_ = { ...r, kind: 'committed', labels: { ...r.labels, ...opts.labels }, sizeBytes };
      delete this.meta.snapshots[activeKey];
      this.meta.snapshots[name] = committed;
      await this.persist();
      // the work dir is only needed while the snapshot is an upperdir
      await rm(join(this.root, 'snapshots', String(r.id), 'work'), { recursive: true, force: true });
    });
  }

  private mountsOf(key: string): Mount[] {
    const r = this.meta.snapshots[key];
    if (!r) throw notFound('snapshot', key);
    const own = this.fsPath(key);
    const parents = this.chain(r.parent);
    switch (r.kind) {
      case 'active': {
        if (parents.length === 0) return [{ type: 'bind', source: own, options: ['rw', 'rbind'] }];
        const work = join(this.root, 'snapshots', String(r.id), 'work');
        return [{ type: 'overlay', source: 'overlay', options: ['index=off', `workdir=${work}`, `upperdir=${own}`, `lowerdir=${parents.join(':')}`] }];
      }
      case 'view':
      case 'committed': {
        const layers = r.kind === 'committed' ? [own, ...parents] : parents;
        if (layers.length === 0) return [{ type: 'bind', source: own, options: ['ro', 'rbind'] }];
        if (layers.length === 1) return [{ type: 'bind', source: layers[0], options: ['ro', 'rbind'] }];
        return [{ type: 'overlay', source: 'overlay', options: ['index=off', `lowerdir=${layers.join(':')}`] }];
      }
      default: {
        const never: never = r.kind;
        throw new HedgeError('Internal', `unknown snapshot kind ${String(never)}`);
      }
    }
  }

  async mounts(key: string): Promise<Mount[]> {
    return this.mountsOf(key);
  }

  async stat(key: string): Promise<SnapshotInfo | undefined> {
    const r = this.meta.snapshots[key];
    return r ? toInfo(key, r) : undefined;
  }

  async list(): Promise<SnapshotInfo[]> {
    return Object.entries(this.meta.snapshots).map(([k, r]) => toInfo(k, r));
  }

  async remove(key: string): Promise<void> {
    // after a commit in flight (it reads the record, sizes the directory, then replaces the record)
    const r = await this.serial(async () => {
      const rec = this.meta.snapshots[key];
      if (!rec) throw notFound('snapshot', key);
      const child = Object.entries(this.meta.snapshots).find(([, s]) => s.parent === key);
      if (child) throw conflict('snapshot', key, `snapshot "${child[0]}" depends on it`);
      delete this.meta.snapshots[key];
      return rec;
    });
    try {
      await this.persist();
    } catch (err) {
      this.meta.snapshots[key] ??= r;
      throw err;
    }
    // only once no record names it
    await rm(join(this.root, 'snapshots', String(r.id)), { recursive: true, force: true });
  }
}

function toInfo(key: string, r: Record_): SnapshotInfo {
  return {
    key,
    kind: r.kind,
    ...(r.parent !== undefined ? { parent: r.parent } : {}),
    createdAt: new Date(r.createdAt),
    labels: { ...r.labels },
    ...(r.sizeBytes !== undefined ? { sizeBytes: r.sizeBytes } : {}),
  };
}

async function duBytes(dir: string): Promise<number> {
  let total = 0;
  const seen = new Set<string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = await lstat(p);
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) continue;
      seen.add(id);
      total += st.blocks * 512;
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return total;
}
