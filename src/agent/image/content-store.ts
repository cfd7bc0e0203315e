import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HedgeError } from '../../lib/errors.ts';
import { digestHex, sha256Digest } from './digest.ts';

/** a source of blob bytes starting at `offset`; `offset` in the result says where it really starts (0 if Range was ignored) */
export type BlobSource = (offset: number, signal: AbortSignal) => Promise<{ body: Readable; offset: number }>;

export interface IngestOptions {
  size?: number;
  signal: AbortSignal;
  onProgress?: (completed: number, total: number) => void;
}

/**
 * Content-addressed blobs under `<root>/content/blobs/sha256/<hex>`. Writes go to
 * `<root>/content/ingest/<hex>` and are renamed in only after the sha256 of the bytes matches, so
 * a blob path always holds verified content; a partial ingest is kept for a Range resume.
 */
export class ContentStore {
  readonly root: string;
  private readonly inflight = new Map<string, Promise<boolean>>();

  constructor(root: string) {
    this.root = root;
  }

  blobPath(digest: string): string {
    return join(this.root, 'content', 'blobs', 'sha256', digestHex(digest));
  }

  ingestPath(digest: string): string {
    return join(this.root, 'content', 'ingest', digestHex(digest));
  }

  async init(): Promise<void> {
    await mkdir(join(this.root, 'content', 'blobs', 'sha256'), { recursive: true });
    await mkdir(join(this.root, 'content', 'ingest'), { recursive: true });
  }

  async has(digest: string): Promise<boolean> {
    try {
      await stat(this.blobPath(digest));
      return true;
    } catch {
      return false;
    }
  }

  async size(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch {
      return undefined;
    }
  }

  async read(digest: string): Promise<Buffer> {
    return await readFile(this.blobPath(digest));
  }

  async list(): Promise<string[]> {
    const names = await readdir(join(this.root, 'content', 'blobs', 'sha256')).catch(() => []);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  async delete(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  /** stores small in-memory content (manifests, configs) after checking its digest */
  async put(digest: string, data: Buffer): Promise<void> {
    const got = sha256Digest(data);
    if (got !== digest) throw digestMismatch(digest, got);
    if (await this.has(digest)) return;
    const tmp = `${this.ingestPath(digest)}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, data);
    await rename(tmp, this.blobPath(digest));
  }

  /**
   * Ensures `digest` is in the store, fetching it from `source` if needed. Concurrent calls for
   * one digest share a single download. Returns false when the blob was already present.
   */
  async ingest(digest: string, source: BlobSource, opts: IngestOptions): Promise<boolean> {
    digestHex(digest);
    const running = this.inflight.get(digest);
    if (running) {
      await running;
      return false;
    }
    // registered before any await so a concurrent caller always finds it
    const p = (async () => ((await this.has(digest)) ? false : await this.download(digest, source, opts)))().finally(() =>
      this.inflight.delete(digest),
    );
    this.inflight.set(digest, p);
    return await p;
  }

  private async download(digest: string, source: BlobSource, opts: IngestOptions): Promise<boolean> {
    const partial = this.ingestPath(digest);
    const hash = createHash('sha256');
    let offset = await stat(partial).then((st) => st.size, () => 0);
    if (opts.size !== undefined && offset > opts.size) {
      await rm(partial, { force: true });
      offset = 0;
    }
    if (offset > 0) {
      // re-hash what we already have so the final digest covers every byte
      for await (const chunk of createReadStream(partial, { end: offset - 1 })) hash.update(chunk as Buffer);
    }
    const { body, offset: served } = await source(offset, opts.signal);
    if (served !== offset) {
      // the server ignored Range: start over
      if (served !== 0) {
        body.destroy();
        throw new HedgeError('Unavailable', `blob ${digest}: server resumed at ${served}, asked for ${offset}`);
      }
      hash.destroy();
      return await this.restart(digest, body, opts);
    }
    await this.stream(digest, body, hash, offset, opts);
    return true;
  }

  private async restart(digest: string, body: Readable, opts: IngestOptions): Promise<boolean> {
    await rm(this.ingestPath(digest), { force: true });
    await this.stream(digest, body, createHash('sha256'), 0, opts);
    return true;
  }

  private async stream(digest: string, body: Readable, hash: ReturnType<typeof createHash>, offset: number, opts: IngestOptions): Promise<void> {
    const partial = this.ingestPath(digest);
    let completed = offset;
    const total = opts.size ?? 0;
    const limit = opts.size;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        completed += chunk.length;
        if (limit !== undefined && completed > limit) {
          cb(new HedgeError('Invalid', `blob ${digest}: more than the ${limit} bytes the manifest declares`));
          return;
        }
        hash.update(chunk);
        opts.onProgress?.(completed, total);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(partial, { flags: offset > 0 ? 'a' : 'w' }), { signal: opts.signal });
    } catch (err) {
      // an interrupted download stays as a partial for resume; an oversized one is garbage
      if (err instanceof HedgeError) await rm(partial, { force: true });
      throw err;
    }
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== digest || (limit !== undefined && completed !== limit)) {
      await rm(partial, { force: true });
      if (got !== digest) throw digestMismatch(digest, got);
      throw new HedgeError('Invalid', `blob ${digest}: got ${completed} bytes, manifest declares ${limit}`);
    }
    const fh = await open(partial, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(partial, this.blobPath(digest));
  }
}

function digestMismatch(expected: string, got: string): HedgeError {
  return new HedgeError('Invalid', `digest mismatch: expected ${expected}, got ${got}; content discarded`);
}
