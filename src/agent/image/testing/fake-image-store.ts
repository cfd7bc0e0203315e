import { HedgeError } from '../../../lib/errors.ts';
import type { Snapshotter } from '../../snapshot/types.ts';
import type { ImageInfo, ImageStore, RegistryCredentials } from '../types.ts';

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
