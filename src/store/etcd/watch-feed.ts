import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from '../../lib/log.ts';
import { WatchHub, type ChangeEvent } from '../watch-hub.ts';
import { EventRing } from './event-ring.ts';

export interface WatchFeedOptions {
  client: Etcd3;
  /** the keys the feed watches in etcd, the store's prefix included ('' = the whole keyspace) */
  fullPrefix: string;
  /** the first revision the feed delivers */
  start: number;
  /** an etcd event as the store's change event (keys without the store prefix) */
  toEvent: (type: string, kv: IKeyValue, prev: IKeyValue | undefined) => ChangeEvent;
  /** the error the feed's watchers get when etcd ends the feed (Gone when `next` was compacted) */
  failure: (err: unknown, next: number) => Promise<unknown>;
  /** called once when the feed stops by itself (not by close()) */
  onEnd: (feed: WatchFeed) => void;
  queueLimit?: number;
  ringEvents?: number;
  ringBytes?: number;
  log: Logger;
}

/**
 * One etcd watch on one resource's prefix (`/registry/<group>/<plural>/`), shared by every watcher
 * of that resource in the store, as kube-apiserver's watch cache does: its events go into a ring
 * (the watchers' history) and are published to a WatchHub, which matches each event once per
 * watched prefix and, for watchers with a trigger (a node's spec.nodeName pod watch), touches only
 * the watchers of the event's values. So a pod write costs one etcd event and one decode per
 * apiserver watching pods, not one per watcher, and nothing on an apiserver that does not.
 *
 * The etcd3 client re-creates a watch after a lost connection from the revision after the last
 * response's header; the feed sets that to its own next revision (the one after the last event it
 * published) on every response and disconnect, because a response's header can be ahead of the
 * events delivered so far (a catching-up watch, progress notifications on etcd < 3.4.25), and
 * resuming from it would skip events. Events at or below what was published are dropped, so a
 * resumed watch delivers nothing twice. When etcd cancels the watch (its next revision compacted
 * while disconnected, say), the feed ends: its watchers' iterators throw, they re-watch from their
 * last revision, and the store starts a new feed.
 */
export class WatchFeed {
  readonly hub: WatchHub;
  readonly ring: EventRing;
  private readonly opts: WatchFeedOptions;
  private readonly watcher: Watcher;
  /** the next revision the feed expects: one after the last published event */
  private nextRev: number;
  private stopped = false;
  /** connections lost and resumed (stats) */
  disconnects = 0;
  /**
   * Settles once etcd created the feed's watch (or the feed ended). The store creates direct etcd
   * watches only after it: etcd3 (1.1.2) hands a "created and cancelled" answer (a compacted start
   * revision) to the first of its watchers still without an id, so a direct watch from a compacted
   * revision created beside the pending feed would cancel the feed and itself wait forever.
   */
  readonly connected: Promise<void>;
  private settleConnected: () => void = () => undefined;

  constructor(opts: WatchFeedOptions) {
    this.opts = opts;
    this.nextRev = opts.start;
    this.ring = new EventRing({ start: opts.start, maxEvents: opts.ringEvents, maxBytes: opts.ringBytes });
    this.hub = new WatchHub({ history: this.ring, revision: opts.start - 1, queueLimit: opts.queueLimit });
    this.connected = new Promise((resolve) => (this.settleConnected = resolve));
    const builder = opts.client.watch().withPreviousKV().startRevision(String(opts.start));
    // etcd needs a non-empty start key; '\0'..'\0' is the whole keyspace
    this.watcher = (opts.fullPrefix === '' ? builder.inRange({ start: '\0', end: '\0' }) : builder.prefix(opts.fullPrefix)).watcher();
    const w = this.watcher;
    // etcd3's own 'data' listener re-emits every event by its type (nobody listens) and computes its
    // resume revision with a BigNumber per response, which pinResume overwrites on every response:
    // per Lease renewal on the apiserver watching Leases, for nothing
    w.removeAllListeners('data');
    w.on('data', (res) => {
      if (res.events.length === 0) {
        // a progress notification (etcd sends them to caught-up watches only, as the store's direct
        // watches trust too): nothing of this resource changed up to its revision. A feed sees only
        // its resource's events, so without these an idle resource's bookmarks would stay at its
        // last change while the cluster's revision moves on. Resuming still starts after the last
        // event published.
        this.hub.advance(Number(res.header.revision));
        this.pinResume();
        return;
      }
      const events: ChangeEvent[] = [];
      for (const ev of res.events) {
        if (Number(ev.kv.mod_revision) < this.nextRev) continue;
        // protobuf gives null, not undefined, for an absent prev_kv
        events.push(opts.toEvent(ev.type, ev.kv, ev.prev_kv ?? undefined));
      }
      if (events.length > 0) {
        this.nextRev = events[events.length - 1].kv.modRevision + 1;
        // history first: a watcher catching up reads it up to the hub's revision
        this.ring.append(events);
        this.hub.publish(events);
      }
      this.pinResume();
    });
    w.on('connected', () => {
      this.pinResume();
      this.settleConnected();
    });
    w.on('disconnected', (err) => {
      this.disconnects++;
      this.pinResume();
      opts.log.debug({ err, next: this.nextRev }, 'shared etcd watch disconnected; resuming');
    });
    w.on('error', (err) => void this.fail(err));
  }

  /** the next revision the feed will publish */
  get next(): number {
    return this.nextRev;
  }

  get ended(): boolean {
    return this.stopped;
  }

  /** Ends the feed and its watchers (their iterators finish). */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.settleConnected();
    this.hub.closeAll();
    await this.cancel();
  }

  /** makes etcd3's resume revision ours (its own is the last response header's + 1) */
  private pinResume(): void {
    this.watcher.request.start_revision = String(this.nextRev);
  }

  private async fail(err: unknown): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.settleConnected();
    this.opts.onEnd(this);
    // etcd3 has already dropped the watch (see EtcdStore's direct watch): no cancel
    this.watcher.removeAllListeners();
    this.watcher.on('error', () => undefined);
    const error = await this.opts.failure(err, this.nextRev);
    this.opts.log.warn({ err, next: this.nextRev }, 'shared etcd watch ended; its watchers re-watch');
    this.hub.closeAll(error);
  }

  private async cancel(): Promise<void> {
    const w = this.watcher;
    w.removeAllListeners();
    w.on('error', () => undefined);
    await w.cancel().catch(() => undefined);
  }
}
