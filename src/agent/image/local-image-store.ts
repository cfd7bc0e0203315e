import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { forEachConcurrent } from '../../lib/concurrent.ts';
import { HedgeError } from '../../lib/errors.ts';
import type { Snapshotter } from '../snapshot/types.ts';
import { ContentStore } from './content-store.ts';
import { chainIds, sha256Digest } from './digest.ts';
import { ImageMetadata } from './image-metadata.ts';
import { applyLayer } from './layer-apply.ts';
import { isIndex, isManifest, MediaType, selectPlatform, type Descriptor, type ImageConfigDoc, type IndexDoc, type ManifestDoc } from './media-types.ts';
import { formatReference, parseReference } from './reference.ts';
import { RegistryClient, type RegistryClientOptions } from './registry-client.ts';
import type { ImageInfo, ImageStore, PullProgress, RegistryCredentials } from './types.ts';

export interface LocalImageStoreOptions {
  /** holds content/, images.json and tmp/ */
  root: string;
  registry?: RegistryClientOptions;
  platform?: { os: string; architecture: string; variant?: string };
  /** layers downloaded at once per pull */
  concurrency?: number;
  /** when given, remove/removeImages also drop the image's unused snapshots */
  snapshotter?: Snapshotter;
  /**
   * Called after each step of a removal has reached the disk (the records, each blob, each
   * snapshot): the crash-safety tests throw here to stop a removal half way, as a crash would.
   */
  onRemoveStep?: (step: RemoveStep) => void | Promise<void>;
}

/** the steps of a removal, in the order they are made durable */
export type RemoveStep = { kind: 'records-saved'; refs: string[] } | { kind: 'blob-deleted'; digest: string } | { kind: 'snapshot-removed'; key: string };

type Creds = ((registry: string) => RegistryCredentials | undefined) | undefined;

export class LocalImageStore implements ImageStore {
  readonly content: ContentStore;
  readonly client: RegistryClient;
  private readonly meta: ImageMetadata;
  private readonly root: string;
  private readonly platform: { os: string; architecture: string; variant?: string };
  private readonly concurrency: number;
  private readonly snapshotter: Snapshotter | undefined;
  private readonly unpacking = new Map<string, Promise<void>>();
  private readonly onRemoveStep: LocalImageStoreOptions['onRemoveStep'];
  /**
   * Blobs a pull or import in progress has fetched (or is fetching) but not yet recorded under an
   * image, with a count per operation holding them (containerd's leases): a removal running
   * meanwhile must not sweep them as unreferenced.
   */
  private readonly leased = new Map<string, number>();
  /** removals one at a time: each reads the records, then sweeps what they no longer name */
  private removing: Promise<unknown> = Promise.resolve();

  private constructor(opts: LocalImageStoreOptions) {
    this.root = opts.root;
    this.content = new ContentStore(opts.root);
    this.client = new RegistryClient(opts.registry);
    this.meta = new ImageMetadata(opts.root);
    this.platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
    this.concurrency = opts.concurrency ?? 3;
    this.snapshotter = opts.snapshotter;
    this.onRemoveStep = opts.onRemoveStep;
  }

  /** holds digests against removal until `release`; see `leased` */
  private lease(): { hold: (digest: string) => void; release: () => void } {
    const held: string[] = [];
    return {
      hold: (d) => {
        held.push(d);
        this.leased.set(d, (this.leased.get(d) ?? 0) + 1);
      },
      release: () => {
        for (const d of held.splice(0)) {
          const n = (this.leased.get(d) ?? 1) - 1;
          if (n > 0) this.leased.set(d, n);
          else this.leased.delete(d);
        }
      },
    };
  }

  static async open(opts: LocalImageStoreOptions): Promise<LocalImageStore> {
    const s = new LocalImageStore(opts);
    await s.content.init();
    await rm(join(opts.root, 'tmp'), { recursive: true, force: true });
    await s.meta.load();
    return s;
  }

  async pull(ref: string, opts: { credentials?: Creds; onProgress?: (p: PullProgress) => void; signal: AbortSignal }): Promise<ImageInfo> {
    const l = this.lease();
    try {
      return await this.pullLeased(ref, opts, l.hold);
    } finally {
      l.release();
    }
  }

  private async pullLeased(ref: string, opts: { credentials?: Creds; onProgress?: (p: PullProgress) => void; signal: AbortSignal }, hold: (digest: string) => void): Promise<ImageInfo> {
    const parsed = parseReference(ref);
    const name = formatReference(parsed);
    const reference = parsed.digest ?? parsed.tag ?? 'latest';
    const c = { credentials: opts.credentials, signal: opts.signal };
    // HEAD first: an unchanged tag costs one request and no body
    const head = await this.client.headManifest(parsed, reference, c);
    let top: { mediaType: string; digest: string; bytes: Buffer };
    if (head.digest) hold(head.digest);
    if (head.digest && (await this.content.has(head.digest))) {
      const bytes = await this.content.read(head.digest);
      top = { mediaType: mediaTypeOf(bytes, head.mediaType), digest: head.digest, bytes };
    } else {
      top = await this.client.getManifest(parsed, reference, c);
      hold(top.digest);
      await this.content.put(top.digest, top.bytes);
    }
    let manifestDesc = { mediaType: top.mediaType, digest: top.digest, bytes: top.bytes };
    if (isIndex(top.mediaType)) {
      const chosen = selectPlatform(JSON.parse(top.bytes.toString()) as IndexDoc, this.platform);
      if (!chosen) throw new HedgeError('NotFound', `${name}: no manifest for platform ${this.platform.os}/${this.platform.architecture}`);
      hold(chosen.digest);
      if (await this.content.has(chosen.digest)) {
        const bytes = await this.content.read(chosen.digest);
        manifestDesc = { mediaType: chosen.mediaType, digest: chosen.digest, bytes };
      } else {
        const m = await this.client.getManifest(parsed, chosen.digest, c);
        await this.content.put(m.digest, m.bytes);
        manifestDesc = m;
      }
    }
    if (!isManifest(manifestDesc.mediaType)) throw new HedgeError('Invalid', `${name}: unsupported manifest media type "${manifestDesc.mediaType}"`);
    const manifest = JSON.parse(manifestDesc.bytes.toString()) as ManifestDoc;
    for (const d of [manifest.config, ...manifest.layers]) hold(d.digest);
    const fetch = (d: Descriptor) => (offset: number, signal: AbortSignal) => this.client.getBlob(parsed, d.digest, { offset, credentials: opts.credentials, signal });
    await this.content.ingest(manifest.config.digest, fetch(manifest.config), { size: manifest.config.size, signal: opts.signal });
    await this.fetchLayers(manifest.layers, fetch, opts);
    // an image pulled by digest is recorded under repo@digest, as the kubelet reports it
    const recordRef = parsed.digest ? `${parsed.registry}/${parsed.repository}@${parsed.digest}` : name;
    return await this.record(recordRef, top.digest, manifest, manifestDesc.digest);
  }

  private async fetchLayers(
    layers: Descriptor[],
    fetch: (d: Descriptor) => (offset: number, signal: AbortSignal) => ReturnType<RegistryClient['getBlob']>,
    opts: { onProgress?: (p: PullProgress) => void; signal: AbortSignal },
  ): Promise<void> {
    const report = (layer: Descriptor, status: PullProgress['status'], completedBytes: number): void =>
      opts.onProgress?.({ layer: layer.digest, completedBytes, totalBytes: layer.size, status });
    for (const l of layers) report(l, 'waiting', 0);
    await forEachConcurrent(layers, this.concurrency, async (layer) => {
      if (await this.content.has(layer.digest)) {
        report(layer, 'cached', layer.size);
        return;
      }
      const fetched = await this.content.ingest(layer.digest, fetch(layer), {
        size: layer.size,
        signal: opts.signal,
        onProgress: (done) => report(layer, 'downloading', done),
      });
      report(layer, fetched ? 'done' : 'cached', layer.size);
    });
  }

  /** `digest`: what the reference names (an index or a manifest); `manifestDigest`: the manifest chosen from it */
  private async record(ref: string, digest: string, manifest: ManifestDoc, manifestDigest: string): Promise<ImageInfo> {
    const config = JSON.parse((await this.content.read(manifest.config.digest)).toString()) as ImageConfigDoc;
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) {
      throw new HedgeError('Invalid', `${ref}: config has ${diffIds.length} diff ids for ${manifest.layers.length} layers`);
    }
    const prev = this.meta.get(ref);
    // the image's content as containerd's CRI counts an image's size: what the reference names
    // (an index and the manifest chosen from it, or the manifest), the config and the layers
    const top = (await this.content.size(digest)) ?? 0;
    const chosen = manifestDigest === digest ? 0 : ((await this.content.size(manifestDigest)) ?? 0);
    const info: ImageInfo = {
      ref,
      digest,
      id: manifest.config.digest,
      config: (config.config ?? {}) as ImageInfo['config'],
      layers: manifest.layers.map((l, i) => ({ digest: l.digest, diffId: diffIds[i], size: l.size, mediaType: l.mediaType })),
      sizeBytes: manifest.layers.reduce((n, l) => n + l.size, manifest.config.size + top + chosen),
      ...(prev?.id === manifest.config.digest && prev.topSnapshot ? { topSnapshot: prev.topSnapshot } : {}),
      lastUsed: new Date(),
      ...(prev?.pinned ? { pinned: true } : {}),
    };
    this.meta.set(info);
    await this.meta.save();
    return info;
  }

  async resolve(ref: string): Promise<ImageInfo | undefined> {
    let key = ref;
    if (!/^sha256:[a-f0-9]{64}$/.test(ref)) {
      try {
        key = formatReference(parseReference(ref));
      } catch {
        return undefined;
      }
    }
    const found = this.meta.find(key);
    if (found) {
      found.lastUsed = new Date();
      return { ...found };
    }
    return undefined;
  }

  async unpack(image: ImageInfo, snapshotter: Snapshotter, signal: AbortSignal): Promise<string> {
    const chain = chainIds(image.layers.map((l) => l.diffId));
    for (let i = 0; i < chain.length; i++) {
      const key = chain[i];
      let running = this.unpacking.get(key);
      if (!running) {
        running = this.unpackLayer(image, i, key, chain[i - 1], snapshotter, signal).finally(() => this.unpacking.delete(key));
        this.unpacking.set(key, running);
      }
      await running;
    }
    const top = chain[chain.length - 1];
    const rec = this.meta.get(image.ref);
    if (rec && rec.topSnapshot !== top) {
      rec.topSnapshot = top;
      await this.meta.save();
    }
    return top;
  }

  private async unpackLayer(image: ImageInfo, i: number, key: string, parent: string | undefined, snapshotter: Snapshotter, signal: AbortSignal): Promise<void> {
    if (await snapshotter.stat(key)) return;
    const layer = image.layers[i];
    const active = `extract-${randomBytes(6).toString('hex')}-${key}`;
    const mounts = await snapshotter.prepare(active, parent, { labels: { 'hedge.io/uncompressed': layer.diffId }, signal });
    try {
      const m = mounts[0];
      const dir = m.type === 'bind' ? m.source : m.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
      if (!dir) throw new HedgeError('Internal', `snapshotter returned no writable directory for ${active}`);
      const lower = m.options.find((o) => o.startsWith('lowerdir='))?.slice('lowerdir='.length);
      const parents = m.type === 'overlay' && lower ? lower.split(':') : [];
      const { diffId } = await applyLayer(this.content.blobPath(layer.digest), dir, { parents, signal });
      if (diffId !== layer.diffId) throw new HedgeError('Invalid', `layer ${layer.digest}: diff id mismatch: config says ${layer.diffId}, content is ${diffId}`);
      await snapshotter.commit(key, active, { signal });
    } catch (err) {
      await snapshotter.remove(active).catch(() => undefined);
      throw err;
    }
  }

  async list(): Promise<ImageInfo[]> {
    return this.meta.all().map((i) => ({ ...i }));
  }

  async remove(ref: string): Promise<void> {
    const found = await this.resolve(ref);
    if (!found) throw new HedgeError('NotFound', `image "${ref}" not found`);
    await this.removeImages([found.ref], { signal: AbortSignal.timeout(120_000) });
  }

  async setPinned(ref: string, pinned: boolean): Promise<void> {
    const found = this.meta.find(/^sha256:[a-f0-9]{64}$/.test(ref) ? ref : formatReference(parseReference(ref)));
    if (!found) throw new HedgeError('NotFound', `image "${ref}" not found`);
    if (pinned) found.pinned = true;
    else delete found.pinned;
    await this.meta.save();
  }

  /**
   * Crash-safe order: the records go first, in one atomic replace of images.json, so from then on
   * nothing names the removed images; only then their blobs and snapshots, each no longer needed
   * by any remaining image (or a pull in progress). A crash part way leaves unreferenced blobs and
   * snapshots, never a kept image missing one; every removal sweeps whatever earlier ones left.
   */
  async removeImages(refs: string[], opts: { signal: AbortSignal }): Promise<number> {
    const run = this.removing.then(async () => {
      opts.signal.throwIfAborted();
      const gone = refs.filter((r) => this.meta.delete(r));
      if (gone.length > 0) {
        await this.meta.save();
        await this.onRemoveStep?.({ kind: 'records-saved', refs: gone });
      }
      return await this.sweep(opts.signal);
    });
    this.removing = run.catch(() => undefined);
    return await run;
  }

  /** deletes blobs and snapshots no remaining image references; returns bytes freed */
  private async sweep(signal: AbortSignal): Promise<number> {
    const live = new Set<string>(this.leased.keys());
    const liveSnaps = new Set<string>();
    for (const i of this.meta.all()) {
      live.add(i.digest);
      live.add(i.id);
      for (const l of i.layers) live.add(l.digest);
      for (const c of chainIds(i.layers.map((l) => l.diffId))) liveSnaps.add(c);
      // an index we pulled through: keep its platform manifests too
      const raw = await this.content.read(i.digest).catch(() => undefined);
      if (raw && isIndex(mediaTypeOf(raw))) {
        for (const m of (JSON.parse(raw.toString()) as IndexDoc).manifests) live.add(m.digest);
      }
    }
    let freed = 0;
    for (const d of await this.content.list()) {
      // a pull that started while this sweep read the records holds its blobs from its first step
      if (live.has(d) || this.leased.has(d)) continue;
      signal.throwIfAborted();
      freed += (await this.content.size(d)) ?? 0;
      await this.content.delete(d);
      await this.onRemoveStep?.({ kind: 'blob-deleted', digest: d });
    }
    if (this.snapshotter) {
      // children first: a committed parent cannot go while a child exists
      for (let changed = true; changed; ) {
        changed = false;
        const snaps = await this.snapshotter.list();
        const parents = new Set(snaps.map((s) => s.parent).filter((p): p is string => p !== undefined));
        for (const s of snaps) {
          if (s.kind !== 'committed' || liveSnaps.has(s.key) || parents.has(s.key) || this.unpacking.has(s.key)) continue;
          signal.throwIfAborted();
          await this.snapshotter.remove(s.key);
          freed += s.sizeBytes ?? 0;
          changed = true;
          await this.onRemoveStep?.({ kind: 'snapshot-removed', key: s.key });
        }
      }
    }
    return freed;
  }

  async import(path: string, opts: { signal: AbortSignal }): Promise<ImageInfo[]> {
    const l = this.lease();
    try {
      return await this.importLeased(path, opts, l.hold);
    } finally {
      l.release();
    }
  }

  private async importLeased(path: string, opts: { signal: AbortSignal }, hold: (digest: string) => void): Promise<ImageInfo[]> {
    const st = await stat(path).catch(() => undefined);
    if (!st) throw new HedgeError('NotFound', `import: "${path}" does not exist`);
    if (st.isDirectory()) return await this.importLayout(path, opts.signal, hold);
    const tmp = join(this.root, 'tmp', `import-${randomBytes(6).toString('hex')}`);
    await mkdir(tmp, { recursive: true });
    try {
      const { extract } = await import('tar');
      await extract({ file: path, cwd: tmp, strict: true, preserveOwner: false });
      const isLayout = await stat(join(tmp, 'index.json')).then(() => true, () => false);
      const hasDockerManifest = await stat(join(tmp, 'manifest.json')).then(() => true, () => false);
      if (isLayout && !hasDockerManifest) return await this.importLayout(tmp, opts.signal, hold);
      if (!hasDockerManifest) throw new HedgeError('Invalid', `import: "${path}" is neither an OCI layout nor a docker-archive`);
      return await this.importDockerArchive(tmp, opts.signal, hold);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  private async ingestFile(file: string, digest: string, signal: AbortSignal, hold: (digest: string) => void): Promise<void> {
    hold(digest);
    await this.content.ingest(digest, async () => ({ body: createReadStream(file), offset: 0 }), { signal });
  }

  private async importLayout(dir: string, signal: AbortSignal, hold: (digest: string) => void): Promise<ImageInfo[]> {
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as IndexDoc;
    const blob = (d: string): string => join(dir, 'blobs', 'sha256', d.replace(/^sha256:/, ''));
    const out: ImageInfo[] = [];
    for (const entry of index.manifests) {
      const name = entry.annotations?.['io.containerd.image.name'] ?? entry.annotations?.['org.opencontainers.image.ref.name'];
      await this.ingestFile(blob(entry.digest), entry.digest, signal, hold);
      let desc = entry;
      if (isIndex(entry.mediaType)) {
        const chosen = selectPlatform(JSON.parse(await readFile(blob(entry.digest), 'utf8')) as IndexDoc, this.platform);
        if (!chosen) continue;
        desc = chosen;
        await this.ingestFile(blob(desc.digest), desc.digest, signal, hold);
      }
      const manifest = JSON.parse(await readFile(blob(desc.digest), 'utf8')) as ManifestDoc;
      for (const d of [manifest.config, ...manifest.layers]) await this.ingestFile(blob(d.digest), d.digest, signal, hold);
      const ref = name ? formatReference(parseReference(name)) : entry.digest;
      out.push(await this.record(ref, entry.digest, manifest, desc.digest));
    }
    return out;
  }

  private async importDockerArchive(dir: string, signal: AbortSignal, hold: (digest: string) => void): Promise<ImageInfo[]> {
    const entries = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { Config: string; RepoTags?: string[] | null; Layers: string[] }[];
    const out: ImageInfo[] = [];
    for (const e of entries) {
      const cfgBytes = await readFile(join(dir, e.Config));
      const cfgDigest = sha256Digest(cfgBytes);
      hold(cfgDigest);
      await this.content.put(cfgDigest, cfgBytes);
      const layers: Descriptor[] = [];
      for (const l of e.Layers) {
        const bytes = await readFile(join(dir, l));
        const digest = sha256Digest(bytes);
        await this.ingestFile(join(dir, l), digest, signal, hold);
        const gz = bytes[0] === 0x1f && bytes[1] === 0x8b;
        layers.push({ mediaType: gz ? MediaType.dockerLayerGzip : MediaType.dockerLayer, digest, size: bytes.length });
      }
      const manifest: ManifestDoc = {
        schemaVersion: 2,
        mediaType: MediaType.dockerManifest,
        config: { mediaType: MediaType.dockerConfig, digest: cfgDigest, size: cfgBytes.length },
        layers,
      };
      const mBytes = Buffer.from(JSON.stringify(manifest));
      const mDigest = sha256Digest(mBytes);
      hold(mDigest);
      await this.content.put(mDigest, mBytes);
      const tags = e.RepoTags && e.RepoTags.length > 0 ? e.RepoTags : [mDigest];
      for (const t of tags) out.push(await this.record(t === mDigest ? t : formatReference(parseReference(t)), mDigest, manifest, mDigest));
    }
    return out;
  }
}

function mediaTypeOf(bytes: Buffer, fallback?: string): string {
  try {
    const doc = JSON.parse(bytes.toString()) as { mediaType?: string; manifests?: unknown };
    return doc.mediaType ?? (doc.manifests ? MediaType.ociIndex : (fallback ?? MediaType.ociManifest));
  } catch {
    return fallback ?? '';
  }
}

