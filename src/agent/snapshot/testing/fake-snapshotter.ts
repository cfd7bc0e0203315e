import { alreadyExists, conflict, HedgeError, notFound } from '../../../lib/errors.ts';
import type { Mount, SnapshotInfo, Snapshotter } from '../types.ts';

/**
 * In-memory Snapshotter for agent tests: tracks keys, kinds, parents and labels (no content).
 * It keeps the rules of the real ones and passes the Snapshotter contract (../contract.ts):
 * unique keys, committed parents, only active snapshots commit, parents in use stay.
 */
export class FakeSnapshotter implements Snapshotter {
  readonly snapshots = new Map<string, SnapshotInfo>();

  private create(key: string, parent: string | undefined, kind: 'active' | 'view', labels: Record<string, string>): Mount[] {
    if (this.snapshots.has(key)) throw alreadyExists('snapshot', key);
    if (parent !== undefined) {
      const p = this.snapshots.get(parent);
      if (!p) throw notFound('snapshot', parent);
      if (p.kind !== 'committed') throw new HedgeError('Invalid', `snapshot "${parent}" is ${p.kind}, a parent must be committed`);
    }
    this.snapshots.set(key, { key, ...(parent !== undefined ? { parent } : {}), kind, createdAt: new Date(), labels: { ...labels } });
    return this.mountsOf(key);
  }

  async prepare(key: string, parent: string | undefined, opts: { labels?: Record<string, string> } = {}): Promise<Mount[]> {
    return this.create(key, parent, 'active', opts.labels ?? {});
  }

  async view(key: string, parent: string | undefined): Promise<Mount[]> {
    return this.create(key, parent, 'view', {});
  }

  async commit(name: string, activeKey: string, opts: { labels?: Record<string, string> } = {}): Promise<void> {
    const s = this.snapshots.get(activeKey);
    if (!s) throw notFound('snapshot', activeKey);
    if (s.kind !== 'active') throw new HedgeError('Invalid', `snapshot "${activeKey}" is ${s.kind}, only active snapshots can be committed`);
    if (this.snapshots.has(name)) throw alreadyExists('snapshot', name);
    this.snapshots.delete(activeKey);
    this.snapshots.set(name, { ...s, key: name, kind: 'committed', labels: { ...s.labels, ...opts.labels } });
  }

  private chain(key: string | undefined): string[] {
    const out: string[] = [];
    for (let k = key; k !== undefined; k = this.snapshots.get(k)?.parent) out.push(`/fake/${k}`);
    return out;
  }

  private mountsOf(key: string): Mount[] {
    const s = this.snapshots.get(key);
    if (!s) throw notFound('snapshot', key);
    const parents = this.chain(s.parent);
    if (s.kind === 'active') {
      if (!parents.length) return [{ type: 'bind', source: `/fake/${key}`, options: ['rw', 'rbind'] }];
      return [{ type: 'overlay', source: 'overlay', options: [`upperdir=/fake/${key}`, `lowerdir=${parents.join(':')}`] }];
    }
    const layers = s.kind === 'committed' ? [`/fake/${key}`, ...parents] : parents;
    if (layers.length <= 1) return [{ type: 'bind', source: layers[0] ?? `/fake/${key}`, options: ['ro', 'rbind'] }];
    return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${layers.join(':')}`] }];
  }

  async mounts(key: string): Promise<Mount[]> {
    return this.mountsOf(key);
  }

  async stat(key: string): Promise<SnapshotInfo | undefined> {
    const s = this.snapshots.get(key);
    return s ? { ...s, labels: { ...s.labels } } : undefined;
  }

  async list(): Promise<SnapshotInfo[]> {
    return [...this.snapshots.values()].map((s) => ({ ...s, labels: { ...s.labels } }));
  }

  async remove(key: string): Promise<void> {
    if (!this.snapshots.has(key)) throw notFound('snapshot', key);
    const child = [...this.snapshots.values()].find((s) => s.parent === key);
    if (child) throw conflict('snapshot', key, `snapshot "${child.key}" depends on it`);
    this.snapshots.delete(key);
  }
}
