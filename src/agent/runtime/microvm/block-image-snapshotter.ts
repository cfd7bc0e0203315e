/**
 * The microVM's block images behind the Snapshotter seam. Layers are unpacked into directories
 * (an OverlaySnapshotter underneath: active snapshots are writable directories or overlays, as
 * the image unpacker needs); what a committed snapshot or a view mounts is one read-only ext4
 * image of its whole chain, built once by `ensureRootfsImage` and handed to qemu as a disk. No
 * device-mapper here (docs/host-notes.md), so a flattened image per chain stands in for thin snapshots;
 * the guest puts its writable layer on top.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OverlaySnapshotter } from '../../snapshot/overlay-snapshotter.ts';
import type { Mount, SnapshotInfo, Snapshotter } from '../../snapshot/types.ts';
import { ensureRootfsImage, rootfsImageKey } from './rootfs-image.ts';

export interface BlockImageSnapshotterOptions {
  /** layer directories under `<root>/layers`, images under `<root>/images` */
  root: string;
}

export class BlockImageSnapshotter implements Snapshotter {
  readonly #layers: OverlaySnapshotter;
  readonly #imagesDir: string;

  private constructor(layers: OverlaySnapshotter, imagesDir: string) {
    this.#layers = layers;
    this.#imagesDir = imagesDir;
  }

  static async open(opts: BlockImageSnapshotterOptions): Promise<BlockImageSnapshotter> {
    return new BlockImageSnapshotter(await OverlaySnapshotter.open({ root: join(opts.root, 'layers') }), join(opts.root, 'images'));
  }

  /** the image of a committed snapshot's chain: keyed by the snapshot and its layer mounts */
  async #image(committed: string, signal?: AbortSignal): Promise<Mount[]> {
    const rootfs = await this.#layers.mounts(committed);
    const img = await ensureRootfsImage({ imagesDir: this.#imagesDir, digest: committed, rootfs, signal: signal ?? AbortSignal.timeout(300_000) });
    return [{ type: img.fstype, source: img.path, options: ['ro'] }];
  }

  async prepare(key: string, parent: string | undefined, opts: { labels?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Mount[]> {
    return await this.#layers.prepare(key, parent, opts);
  }

  async view(key: string, parent: string | undefined, opts: { signal?: AbortSignal } = {}): Promise<Mount[]> {
    await this.#layers.view(key, parent, opts);
    try {
      return await this.#viewImage(key, parent, opts.signal);
    } catch (err) {
      await this.#layers.remove(key).catch(() => undefined);
      throw err;
    }
  }

  async #viewImage(key: string, parent: string | undefined, signal?: AbortSignal): Promise<Mount[]> {
    if (parent !== undefined) return await this.#image(parent, signal);
    // a view of nothing: an empty image of its own
    const rootfs = await this.#layers.mounts(key);
    const img = await ensureRootfsImage({ imagesDir: this.#imagesDir, digest: key, rootfs, signal: signal ?? AbortSignal.timeout(300_000) });
    return [{ type: img.fstype, source: img.path, options: ['ro'] }];
  }

  async commit(name: string, activeKey: string, opts: { labels?: Record<string, string>; signal?: AbortSignal } = {}): Promise<void> {
    await this.#layers.commit(name, activeKey, opts);
  }

  async mounts(key: string): Promise<Mount[]> {
    const info = await this.#layers.stat(key);
    if (!info) return await this.#layers.mounts(key); // NotFound
    switch (info.kind) {
      case 'active':
        return await this.#layers.mounts(key);
      case 'view':
        return await this.#viewImage(key, info.parent);
      case 'committed':
        return await this.#image(key);
      default: {
        const never: never = info.kind;
        throw new Error(`unknown snapshot kind ${String(never)}`);
      }
    }
  }

  async stat(key: string): Promise<SnapshotInfo | undefined> {
    return await this.#layers.stat(key);
  }

  async list(): Promise<SnapshotInfo[]> {
    return await this.#layers.list();
  }

  /** a committed snapshot takes its image along; a view shares its parent's, which stays */
  async remove(key: string): Promise<void> {
    const info = await this.#layers.stat(key);
    const own = info && (info.kind === 'committed' || (info.kind === 'view' && info.parent === undefined)) ? rootfsImageKey(key, await this.#layers.mounts(key)) : undefined;
    await this.#layers.remove(key);
    if (own) await rm(join(this.#imagesDir, `${own}.ext4`), { force: true });
  }
}
