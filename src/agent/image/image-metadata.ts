import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageInfo } from './types.ts';

type Stored = Omit<ImageInfo, 'lastUsed'> & { lastUsed: string };

/** `<root>/images.json`: image records by canonical reference, replaced atomically (tmp + rename) */
export class ImageMetadata {
  private readonly path: string;
  private images = new Map<string, ImageInfo>();

  constructor(root: string) {
    this.path = join(root, 'images.json');
  }

  async load(): Promise<void> {
    try {
      const doc = JSON.parse(await readFile(this.path, 'utf8')) as { images: Stored[] };
      this.images = new Map(doc.images.map((s) => [s.ref, { ...s, lastUsed: new Date(s.lastUsed) }]));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  async save(): Promise<void> {
    const doc = { images: [...this.images.values()].map((i) => ({ ...i, lastUsed: i.lastUsed.toISOString() })) };
    const tmp = `${this.path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(doc));
    await rename(tmp, this.path);
  }

  get(ref: string): ImageInfo | undefined {
    return this.images.get(ref);
  }

  /** by canonical ref, manifest digest or image id (full or a unique "sha256:" prefix) */
  find(key: string): ImageInfo | undefined {
    const direct = this.images.get(key);
    if (direct) return direct;
    const all = [...this.images.values()];
    return all.find((i) => i.digest === key || i.id === key || i.ref.endsWith(`@${key}`));
  }

  set(info: ImageInfo): void {
    this.images.set(info.ref, info);
  }

  delete(ref: string): boolean {
    return this.images.delete(ref);
  }

  all(): ImageInfo[] {
    return [...this.images.values()];
  }
}
