import { statfs } from 'node:fs/promises';
import type { Clock } from '../../client/clock.ts';
import type { EventSink, InvolvedObject } from '../../client/event-recorder.ts';
import { HedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { Counter, type Registry } from '../../lib/prom.ts';
import { formatReference, parseReference } from './reference.ts';
import type { ImageInfo, ImageStore } from './types.ts';

/** The kubelet's ImageGCPolicy (KubeletConfiguration imageGC* / imageMinimumGCAge / imageMaximumGCAge). */
export interface ImageGCPolicy {
  /** disk usage (percent of the image filesystem) at or above which images are removed */
  highThresholdPercent: number;
  /** ... down to this usage */
  lowThresholdPercent: number;
  /** an image first seen less than this long ago is never removed for space (it may be about to run) */
  minAgeMs: number;
  /** an image unused for longer than this is removed whatever the disk usage; 0 = off */
  maxAgeMs: number;
}

export const defaultImageGCPolicy = (): ImageGCPolicy => ({ highThresholdPercent: 85, lowThresholdPercent: 80, minAgeMs: 2 * 60_000, maxAgeMs: 0 });

/** upstream's ImageGCPeriod */
export const IMAGE_GC_PERIOD_MS = 5 * 60_000;

/**
 * The kubelet's configuration checks (validation.go), naming the config keys: each threshold in
 * 0..100, low below high, a maximum age (when set) above the minimum. undefined = valid.
 */
export function validateImageGCPolicy(p: ImageGCPolicy): { key: string; message: string } | undefined {
  const pct = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 100;
  if (!pct(p.highThresholdPercent)) return { key: 'imageGCHighThresholdPercent', message: `${p.highThresholdPercent} must be a whole number between 0 and 100, inclusive` };
  if (!pct(p.lowThresholdPercent)) return { key: 'imageGCLowThresholdPercent', message: `${p.lowThresholdPercent} must be a whole number between 0 and 100, inclusive` };
  if (p.lowThresholdPercent >= p.highThresholdPercent) {
    return { key: 'imageGCLowThresholdPercent', message: `${p.lowThresholdPercent} must be less than imageGCHighThresholdPercent ${p.highThresholdPercent}` };
  }
  if (!(p.minAgeMs >= 0)) return { key: 'imageMinimumGCAge', message: 'must not be negative' };
  if (!(p.maxAgeMs >= 0)) return { key: 'imageMaximumGCAge', message: 'must not be negative' };
  if (p.maxAgeMs !== 0 && p.minAgeMs > p.maxAgeMs) {
    return { key: 'imageMaximumGCAge', message: `${p.maxAgeMs}ms must be greater than imageMinimumGCAge ${p.minAgeMs}ms` };
  }
  return undefined;
}

export interface ImageFsStats {
  capacityBytes: number;
  availableBytes: number;
}

/** statfs(2) of the filesystem holding `path` (the image store's root) */
export function statfsImageFs(path: string): () => Promise<ImageFsStats> {
  return async () => {
    const s = await statfs(path);
    return { capacityBytes: s.blocks * s.bsize, availableBytes: s.bavail * s.bsize };
  };
}

export interface ImageGCDeps {
  images: Pick<ImageStore, 'list' | 'removeImages'>;
  /** usage of the filesystem holding the images */
  imageFs: () => Promise<ImageFsStats>;
  /**
   * Everything containers on this node use: image references (as written in a pod or canonical),
   * manifest digests, image ids, or the top snapshot key a container's rootfs sits on. A failure
   * fails the collection: nothing is removed on a guess.
   */
  imagesInUse: (signal: AbortSignal) => Promise<Set<string>>;
  policy: ImageGCPolicy;
  clock: Clock;
  logger: Logger;
  /** the Node's events, as the kubelet (FreeDiskSpaceFailed, ImageGCFailed, InvalidDiskCapacity) */
  events?: EventSink;
  nodeName?: string;
  /** kubelet_image_garbage_collected_total goes here */
  metrics?: Registry;
}

/** upstream's imageRecord, per image id (an image with several tags is one record) */
interface ImageRecord {
  id: string;
  refs: string[];
  firstDetected: number;
  lastUsed: number;
  sizeBytes: number;
  pinned: boolean;
}

export type ImageGCReason = 'age' | 'space';

/**
 * The kubelet's image garbage collector (pkg/kubelet/images/image_gc_manager.go): every
 * IMAGE_GC_PERIOD_MS it removes images unused for longer than maxAge, then, when the image
 * filesystem is at or above the high threshold, unused images least recently used first until
 * usage is back at the low threshold. Also the seam the eviction manager calls under disk pressure
 * (`freeSpace`, `deleteUnusedImages`). Removals run one at a time.
 */
export class ImageGCManager {
  private readonly d: ImageGCDeps;
  private readonly log: Logger;
  private readonly records = new Map<string, ImageRecord>();
  private readonly collected: Counter<'reason'> | undefined;
  private initialized = false;
  private readonly began: number;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(deps: ImageGCDeps) {
    const bad = validateImageGCPolicy(deps.policy);
    if (bad) throw new HedgeError('Invalid', `${bad.key}: ${bad.message}`);
    this.d = deps;
    this.log = deps.logger.child({ component: 'image-gc' });
    this.began = deps.clock.now();
    if (deps.metrics) {
      this.collected = new Counter({
        name: 'kubelet_image_garbage_collected_total',
        help: 'Total number of images garbage collected by the kubelet, whether through disk usage or image age.',
        labelNames: ['reason'],
        registers: [deps.metrics],
      });
    }
  }

  /** one removal pass at a time (the periodic one and the eviction manager's) */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /**
   * Runs until `signal` aborts: detects the images at once (those present at start count as first
   * seen long ago, as upstream's first detection), then collects every period. A failure is logged;
   * a second one in a row is also an ImageGCFailed event on the Node, as the kubelet reports it.
   */
  async run(signal: AbortSignal): Promise<void> {
    await this.detectImages(0, signal).catch((err: unknown) => {
      if (!signal.aborted) this.log.warn({ err }, 'initial image detection failed');
    });
    let failedBefore = false;
    while (!signal.aborted) {
      try {
        await this.d.clock.sleep(IMAGE_GC_PERIOD_MS, signal);
      } catch {
        return;
      }
      try {
        await this.garbageCollect(signal);
        if (failedBefore) this.log.info('image garbage collection succeeded');
        failedBefore = false;
      } catch (err) {
        if (signal.aborted) return;
        if (failedBefore) {
          this.log.error({ err }, 'image garbage collection failed multiple times in a row');
          this.event('Warning', 'ImageGCFailed', (err as Error).message);
        } else {
          this.log.error({ err }, 'image garbage collection failed once');
        }
        failedBefore = true;
      }
    }
  }

  /** the periodic pass: images past maxAge, then space down to the low threshold when over the high one */
  garbageCollect(signal: AbortSignal): Promise<void> {
    return this.serial(async () => {
      const freeTime = this.d.clock.now();
      let images = await this.evictionOrder(freeTime, signal);
      images = await this.freeOldImages(images, freeTime, signal);
      const fs = await this.d.imageFs();
      const capacity = fs.capacityBytes;
      const available = Math.min(fs.availableBytes, capacity);
      if (capacity <= 0) {
        const msg = 'invalid capacity 0 on image filesystem';
        this.event('Warning', 'InvalidDiskCapacity', msg);
        throw new HedgeError('Internal', msg);
      }
      const usagePercent = 100 - Math.floor((available * 100) / capacity);
      const p = this.d.policy;
      if (usagePercent < p.highThresholdPercent) return;
      const amountToFree = Math.floor((capacity * (100 - p.lowThresholdPercent)) / 100) - available;
      this.log.info({ usage: usagePercent, highThreshold: p.highThresholdPercent, lowThreshold: p.lowThresholdPercent, amountToFree }, 'disk usage on image filesystem is over the high threshold, trying to free bytes down to the low threshold');
      const freed = await this.freeSpaceOf(images, amountToFree, freeTime, signal);
      if (freed < amountToFree) {
        const msg = `Failed to garbage collect required amount of images. Attempted to free ${amountToFree} bytes, but only found ${freed} bytes eligible to free.`;
        this.event('Warning', 'FreeDiskSpaceFailed', msg);
        throw new HedgeError('Unavailable', msg);
      }
    });
  }

  /**
   * Removes unused images, least recently used first, until `bytesToFree` bytes were freed on disk
   * or none is left that may go (in use, pinned, or first seen within minAge). Resolves with the
   * bytes freed, which may be less than asked. For the eviction manager under disk pressure.
   */
  freeSpace(bytesToFree: number, signal: AbortSignal): Promise<number> {
    return this.serial(async () => {
      const freeTime = this.d.clock.now();
      return await this.freeSpaceOf(await this.evictionOrder(freeTime, signal), bytesToFree, freeTime, signal);
    });
  }

  /** every image that may go (upstream DeleteUnusedImages); resolves with the bytes freed */
  deleteUnusedImages(signal: AbortSignal): Promise<number> {
    this.log.info('attempting to delete unused images');
    return this.freeSpace(Number.MAX_SAFE_INTEGER, signal);
  }

  /**
   * Refreshes the records from the store: new images are first seen at `detectTime`; images in use
   * are used now; the store's own last-use time (pull, container start) counts too, so the order
   * survives an agent restart. Returns the in-use set.
   */
  async detectImages(detectTime: number, signal: AbortSignal): Promise<Set<string>> {
    const inUse = normalize(await this.d.imagesInUse(signal));
    const images = await this.d.images.list();
    const now = this.d.clock.now();
    const current = new Set<string>();
    for (const [id, group] of groupById(images)) {
      current.add(id);
      let r = this.records.get(id);
      if (!r) {
        r = { id, refs: [], firstDetected: detectTime, lastUsed: 0, sizeBytes: 0, pinned: false };
        this.records.set(id, r);
      }
      r.refs = group.map((i) => i.ref);
      r.sizeBytes = Math.max(...group.map((i) => i.sizeBytes));
      r.pinned = group.some((i) => i.pinned === true);
      r.lastUsed = Math.max(r.lastUsed, ...group.map((i) => i.lastUsed.getTime()).filter((t) => t < now));
      if (group.some((i) => isUsed(i, inUse))) r.lastUsed = now;
    }
    for (const id of [...this.records.keys()]) if (!current.has(id)) this.records.delete(id);
    this.initialized = true;
    return inUse;
  }

  /** unused, unpinned images, least recently used first (ties: first detected first) */
  private async evictionOrder(freeTime: number, signal: AbortSignal): Promise<ImageRecord[]> {
    // before the first detection, an image is as new as now (upstream: detection at freeTime)
    await this.detectImages(freeTime, signal);
    return [...this.records.values()]
      .filter((r) => r.lastUsed < freeTime && !r.pinned)
      .sort((a, b) => a.lastUsed - b.lastUsed || a.firstDetected - b.firstDetected);
  }

  private async freeOldImages(images: ImageRecord[], freeTime: number, signal: AbortSignal): Promise<ImageRecord[]> {
    const maxAge = this.d.policy.maxAgeMs;
    // not before maxAge has passed since the agent started: last-use times before it are unknown
    if (maxAge === 0 || freeTime - this.began <= maxAge) return images;
    const left: ImageRecord[] = [];
    const errors: string[] = [];
    for (const img of images) {
      if (freeTime - img.lastUsed <= maxAge) {
        left.push(img);
        continue;
      }
      try {
        await this.freeImage(img, 'age', signal);
      } catch (err) {
        if (signal.aborted) throw err;
        errors.push((err as Error).message);
        left.push(img);
      }
    }
    if (errors.length > 0) throw new HedgeError('Internal', `wanted to free images older than ${maxAge / 1000}s, encountered errors in image deletion: ${errors.join('; ')}`);
    return left;
  }

  private async freeSpaceOf(images: ImageRecord[], bytesToFree: number, freeTime: number, signal: AbortSignal): Promise<number> {
    let freed = 0;
    const errors: string[] = [];
    for (const img of images) {
      if (freed >= bytesToFree) break;
      // used in this very detection (or since): not a candidate
      if (img.lastUsed >= freeTime) continue;
      // may have just been pulled for a container about to start
      if (freeTime - img.firstDetected < this.d.policy.minAgeMs) continue;
      try {
        freed += await this.freeImage(img, 'space', signal);
      } catch (err) {
        if (signal.aborted) throw err;
        errors.push((err as Error).message);
      }
    }
    if (errors.length > 0) {
      throw new HedgeError('Internal', `wanted to free ${bytesToFree} bytes, but freed ${freed} bytes space with errors in image deletion: ${errors.join('; ')}`);
    }
    return freed;
  }

  private async freeImage(img: ImageRecord, reason: ImageGCReason, signal: AbortSignal): Promise<number> {
    const freed = await this.d.images.removeImages(img.refs, { signal });
    this.records.delete(img.id);
    this.collected?.inc({ reason });
    this.log.info({ imageID: img.id, refs: img.refs, size: img.sizeBytes, freedBytes: freed, reason }, 'removed image');
    return freed;
  }

  private event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    if (!this.d.events || !this.d.nodeName) return;
    // the kubelet's nodeRef: kind Node, uid = the node's name
    const involved: InvolvedObject = { kind: 'Node', apiVersion: 'v1', metadata: { name: this.d.nodeName, uid: this.d.nodeName } };
    this.d.events.emit({ involved, type, reason, message });
  }

  /** whether detection ran (tests; the eviction manager may wait for it) */
  get hasDetected(): boolean {
    return this.initialized;
  }
}

function groupById(images: ImageInfo[]): Map<string, ImageInfo[]> {
  const out = new Map<string, ImageInfo[]>();
  for (const i of images) {
    const g = out.get(i.id);
    if (g) g.push(i);
    else out.set(i.id, [i]);
  }
  return out;
}

function isUsed(i: ImageInfo, inUse: Set<string>): boolean {
  return inUse.has(i.ref) || inUse.has(i.digest) || inUse.has(i.id) || (i.topSnapshot !== undefined && inUse.has(i.topSnapshot));
}

/** references as a pod writes them ("busybox:1") in the store's canonical form too */
function normalize(inUse: Set<string>): Set<string> {
  const out = new Set(inUse);
  for (const s of inUse) {
    if (/^sha256:[a-f0-9]{64}$/.test(s)) continue;
    try {
      out.add(formatReference(parseReference(s)));
    } catch {
      // not a reference: kept as given
    }
  }
  return out;
}
