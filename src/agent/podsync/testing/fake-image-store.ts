import { HedgeError } from '../../../lib/errors.ts';
import type { ImageInfo, ImageStore, RegistryCredentials } from '../../image/types.ts';
import type { Mount, SnapshotInfo, Snapshotter } from '../../snapshot/types.ts';

/**
 * In-memory ImageStore: `remote` is what the "registry" has, `local` what is pulled.
 * Pulling an unknown ref fails with a registry-style message.
 */
export class FakeImageStore implements ImageStore {
  readonly remote = new Map<string, Partial<ImageInfo['config']>>();
  readonly local = new Map<string, ImageInfo>();
  readonly pulls: { ref: string; credentials?: RegistryCredentials }[] = [];
  pullError = (ref: string): string => `failed to resolve reference "${ref}": ${ref}: not found`;

  addRemote(ref: string, config: Partial<ImageInfo['config']> = {}): void {
    this.remote.set(ref, config);
  }

  async pull(
    ref: string,
    opts: { credentials?: (registry: string) => RegistryCredentials | undefined; signal: AbortSignal },
  ): Promise<ImageInfo> {
    const registry = ref.includes('/') && /[.:]/.test(ref.split('/')[0]) ? ref.split('/')[0] : 'docker.io';
    this.pulls.push({ ref, credentials: opts.credentials?.(registry) });
    const config = this.remote.get(ref);
    if (!config) throw new HedgeError('NotFound', this.pullError(ref));
    const info: ImageInfo = {
      ref,
      digest: `sha256:${Buffer.from(ref).toString('hex').padEnd(64, '0').slice(0, 64)}`,
      id: `sha256:${'c'.repeat(64)}`,
      config: { ...config },
      layers: [],
      sizeBytes: 1000,
      lastUsed: new Date(),
    };
    this.local.set(ref, info);
    return info;
  }

  async resolve(ref: string): Promise<ImageInfo | undefined> {
    return this.local.get(ref);
  }

  async unpack(image: ImageInfo): Promise<string> {
    return `top-${image.digest}`;
  }

  async list(): Promise<ImageInfo[]> {
    return [...this.local.values()];
  }

  async remove(ref: string): Promise<void> {
    this.local.delete(ref);
  }

  async import(): Promise<ImageInfo[]> {
    return [];
  }

  async garbageCollect(): Promise<number> {
    return 0;
  }
}

/** In-memory Snapshotter: tracks keys only. */
export class FakeSnapshotter implements Snapshotter {
  readonly snapshots = new Map<string, SnapshotInfo>();

  async prepare(key: string, parent: string | undefined): Promise<Mount[]> {
    this.snapshots.set(key, { key, parent, kind: 'active', createdAt: new Date(), labels: {} });
    return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=/fake/${parent ?? ''}`, `upperdir=/fake/${key}/upper`] }];
  }

  async view(key: string, parent: string | undefined): Promise<Mount[]> {
    this.snapshots.set(key, { key, parent, kind: 'view', createdAt: new Date(), labels: {} });
    return [{ type: 'bind', source: `/fake/${parent ?? ''}`, options: ['ro'] }];
  }

  async commit(name: string, activeKey: string): Promise<void> {
    const s = this.snapshots.get(activeKey);
    this.snapshots.delete(activeKey);
    this.snapshots.set(name, { key: name, parent: s?.parent, kind: 'committed', createdAt: new Date(), labels: {} });
  }

  async mounts(key: string): Promise<Mount[]> {
    if (!this.snapshots.has(key)) throw new HedgeError('NotFound', `snapshot ${key} not found`);
    return [{ type: 'overlay', source: 'overlay', options: [] }];
  }

  async stat(key: string): Promise<SnapshotInfo | undefined> {
    return this.snapshots.get(key);
  }

  async list(): Promise<SnapshotInfo[]> {
    return [...this.snapshots.values()];
  }

  async remove(key: string): Promise<void> {
    this.snapshots.delete(key);
  }
}
