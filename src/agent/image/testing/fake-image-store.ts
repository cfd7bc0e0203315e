import { createHash } from 'node:crypto';
import { HedgeError } from '../../../lib/errors.ts';
import type { Snapshotter } from '../../snapshot/types.ts';
import type { ImageInfo, ImageStore, RegistryCredentials } from '../types.ts';

const sha = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

/**
 * In-memory ImageStore: `remote` is what the "registry" has, `local` what is pulled, `archives`
 * what `import` finds at a path. Pulling an unknown ref fails with a registry-style message.
 * It passes the ImageStore contract (../contract.ts) like the local store does.
 */
export class FakeImageStore implements ImageStore {
  readonly remote = new Map<string, Partial<ImageInfo['config']>>();
  readonly local = new Map<string, ImageInfo>();
  readonly archives = new Map<string, { ref: string; config: Partial<ImageInfo['config']> }[]>();
  readonly pulls: { ref: string; credentials?: RegistryCredentials }[] = [];
  pullError = (ref: string): string => `failed to resolve reference "${ref}": ${ref}: not found`;

  addRemote(ref: string, config: Partial<ImageInfo['config']> = {}): void {
    this.remote.set(ref, config);
  }

  addArchive(path: string, images: { ref: string; config?: Partial<ImageInfo['config']> }[]): void {
    this.archives.set(path, images.map((i) => ({ ref: i.ref, config: i.config ?? {} })));
  }

  private record(ref: string, config: Partial<ImageInfo['config']>): ImageInfo {
    const id = sha(`config\0${JSON.stringify(config)}\0${ref}`);
    const layer = sha(`layer\0${ref}`);
    const info: ImageInfo = {
      ref,
      digest: `sha256:${Buffer.from(ref).toString('hex').padEnd(64, '0').slice(0, 64)}`,
      id,
      config: { ...config },
      layers: [{ digest: layer, diffId: sha(`diff\0${ref}`), size: 1000, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }],
      sizeBytes: 1000,
      lastUsed: new Date(),
    };
    this.local.set(ref, info);
    return { ...info };
  }

  async pull(
    ref: string,
    opts: { credentials?: (registry: string) => RegistryCredentials | undefined; signal: AbortSignal },
  ): Promise<ImageInfo> {
    const registry = ref.includes('/') && /[.:]/.test(ref.split('/')[0]) ? ref.split('/')[0] : 'docker.io';
    this.pulls.push({ ref, credentials: opts.credentials?.(registry) });
    const config = this.remote.get(ref);
    if (!config) throw new HedgeError('NotFound', this.pullError(ref));
    return this.record(ref, config);
  }

  /** by reference, manifest digest or image id, as the local store does */
  async resolve(ref: string): Promise<ImageInfo | undefined> {
    const found = this.local.get(ref) ?? [...this.local.values()].find((i) => i.id === ref || i.digest === ref);
    if (!found) return undefined;
    found.lastUsed = new Date();
    return { ...found };
  }

  /** like the real store: the top layer becomes a committed snapshot in `snapshotter` (once) */
  async unpack(image: ImageInfo, snapshotter: Snapshotter, signal: AbortSignal): Promise<string> {
    const key = `top-${image.digest}`;
    if (await snapshotter.stat(key)) return key;
    const active = `extract-${key}`;
    await snapshotter.prepare(active, undefined, { signal });
    await snapshotter.commit(key, active, { signal });
    return key;
  }

  async list(): Promise<ImageInfo[]> {
    return [...this.local.values()].map((i) => ({ ...i }));
  }

  async remove(ref: string): Promise<void> {
    const found = await this.resolve(ref);
    if (!found) throw new HedgeError('NotFound', `image "${ref}" not found`);
    this.local.delete(found.ref);
  }

  async import(path: string): Promise<ImageInfo[]> {
    const images = this.archives.get(path);
    if (!images) throw new HedgeError('NotFound', `import: "${path}" does not exist`);
    return images.map((i) => this.record(i.ref, i.config));
  }

  /** bytes each removal reports freed (the real store counts the blobs and snapshots it deleted) */
  readonly removed: string[] = [];

  /** removes the records; "frees" each image's sizeBytes */
  async removeImages(refs: string[], opts: { signal: AbortSignal }): Promise<number> {
    opts.signal.throwIfAborted();
    let freed = 0;
    for (const r of refs) {
      const img = this.local.get(r);
      if (!img) continue;
      this.local.delete(r);
      this.removed.push(r);
      freed += img.sizeBytes;
    }
    return freed;
  }

  async setPinned(ref: string, pinned: boolean): Promise<void> {
    const found = this.local.get(ref) ?? [...this.local.values()].find((i) => i.id === ref || i.digest === ref);
    if (!found) throw new HedgeError('NotFound', `image "${ref}" not found`);
    if (pinned) found.pinned = true;
    else delete found.pinned;
  }
}
