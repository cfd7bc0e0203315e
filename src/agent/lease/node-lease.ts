import type { KubeObject } from '../../api/object.ts';
import { Backoff } from '../../client/backoff.ts';
import type { Clock } from '../../client/clock.ts';
import { formatMicroTime } from '../../client/micro-time.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import { timeoutSignal } from '../../lib/signals.ts';
import { jitteredPeriod } from '../../lib/sleep.ts';
import type { Logger } from '../../lib/log.ts';
import { OFFLINE_HEARTBEATS_ANNOTATION } from '../../api/annotations/offline-heartbeats.ts';
import { HeartbeatJournal, offlineHeartbeatsAnnotation } from './heartbeat-journal.ts';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export interface NodeLeaseOptions {
  client: KubeClient;
  nodeName: string;
  clock: Clock;
  logger: Logger;
  leaseDurationSeconds?: number;
  /** default 10 s (a quarter of the duration, as the kubelet); each wait is up to 4 % longer (renewDelayMs) */
  renewIntervalMs?: number;
  /** [0, 1) source of the renewal jitter (default Math.random; tests pin it) */
  random?: () => number;
  /**
   * A renewal that took at least this long (default a hundredth of the interval: 100 ms) is
   * followed by a wait drawn from the whole of 0.5–1.5 intervals (renewDelayMs); 0 keeps the
   * kubelet's 4 % after every renewal.
   */
  spreadAfterMs?: number;
  /** the Node's uid, for the ownerReference (resolved lazily: the Node may not exist yet) */
  nodeUid: () => Promise<string | undefined>;
  /**
   * File that journals heartbeats the cloud did not receive (see heartbeat-journal.ts); on
   * reconnect they are reported in the Node annotation `hedge.io/offline-heartbeats`. Without
   * it nothing is journaled.
   */
  journalPath?: string;
  /** called once after the first renewal that succeeds following failures (e.g. to re-post node status at once) */
  onReconnect?: (signal: AbortSignal) => Promise<void>;
}

interface Lease extends KubeObject {
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string };
}

/**
 * The kubelet's node heartbeat: `kube-node-lease/<node>` renewed every 10 s (jittered); errors back off
 * (200 ms → 7 s). While renewals fail the heartbeat is journaled locally once per interval, and
 * reported on the Node when the cloud is reachable again: that is how the node lifecycle
 * controller tells "edge unreachable from cloud" from "node dead".
 */
export class NodeLease {
  private readonly duration: number;
  private readonly interval: number;
  private journalValue: HeartbeatJournal | undefined;
  renewals = 0;
  /** the lease as this node last wrote it (the next renewal's base), undefined after any failure */
  private latest: Lease | undefined;
  /** heartbeat reports delivered to the Node (for tests and diagnostics) */
  reports = 0;
  /** the last renewal attempt failed */
  offline = false;
  /** the current outage: when its first renewal failed and how many have failed since (for the one line logged each way) */
  private outage: { sinceMs: number; failures: number } | undefined;
  private readonly random: () => number;
  private readonly spreadAfterMs: number;

  constructor(private readonly o: NodeLeaseOptions) {
    this.duration = o.leaseDurationSeconds ?? 40;
    this.interval = o.renewIntervalMs ?? 10_000;
    this.random = o.random ?? Math.random;
    this.spreadAfterMs = o.spreadAfterMs ?? this.interval / 100;
  }

  /**
   * The wait after a renewal that succeeded (`tookMs`: how long it took; `recovered`: the first to
   * succeed after failures). As the kubelet's lease controller
   * (`wait.JitterUntil(sync, renewInterval, 0.04, sliding)`), 10–10.4 s after the last one ended, at
   * random. With a fixed 10 s, renewals that a busy apiserver answered together stay together for
   * good: in bench/fleet.ts, after the 10,000 nodes' watches were set up, their renewals arrived
   * ~10/s in one second of every ten and up to 2,800/s in another, and renewal latency followed the
   * bunches (p50 35–140 ms; 2–3 ms jittered).
   *
   * The 4 % moves a node's phase by ~0.1 s a cycle, so a bunch takes hours to spread. One forms
   * whenever many nodes' renewals wait in one queue and are answered together: an apiserver that
   * was saturated (a restart, a burst of registrations), or a cloud link that comes back to a fleet
   * of edge nodes at once. In such a bunch's seconds the renewals arrive faster than the apiserver
   * answers them, so they queue again, and the bunch renews itself every cycle. So a renewal that
   * waited (took `spreadAfterMs` or longer), or the first after an outage, is followed by a wait
   * drawn from 0.5–1.5 intervals: whatever of a bunch queued is spread over a whole cycle, at the
   * same mean rate of renewals, with at most 1.5 intervals between two (the lease lasts 4). A node behind
   * a link slower than that draws every wait so, which keeps those bounds. bench/fleet.ts, 10,000
   * nodes: the 10 s rhythm of the renewals' arrivals gone (busiest second of the steady minute
   * ~1,600 against ~2,200 with `spreadAfterMs: 0`).
   */
  renewDelayMs(tookMs = 0, recovered = false): number {
    if (this.spreadAfterMs > 0 && (recovered || tookMs >= this.spreadAfterMs)) return Math.round(this.interval * (0.5 + this.random()));
    return jitteredPeriod(this.interval, this.random);
  }

  /**
   * create or renew once. As the kubelet's lease controller: the lease last written is kept and the
   * next renewal is a single PUT on top of it; only when that is refused (Conflict: someone else
   * wrote it; NotFound) or fails is the lease read again, so steady state costs one request, not two.
   */
  async renew(signal: AbortSignal): Promise<void> {
    const { client, nodeName, clock } = this.o;
    const renewTime = formatMicroTime(clock.now());
    const cached = this.latest;
    this.latest = undefined;
    if (cached) {
      try {
        this.latest = await client.update<Lease>(Resources.leases, await this.renewed(cached, renewTime), { signal });
        this.renewals++;
        return;
      } catch (err) {
        if (!isHedgeError(err, 'Conflict') && !isHedgeError(err, 'NotFound')) throw err;
      }
    }
    let lease: Lease;
    try {
      lease = await client.get<Lease>(Resources.leases, nodeName, { namespace: NODE_LEASE_NAMESPACE, signal });
    } catch (err) {
      if (!isHedgeError(err, 'NotFound')) throw err;
      const uid = await this.o.nodeUid();
      this.latest = await client.create<Lease>(
        Resources.leases,
        {
          metadata: {
            name: nodeName,
            namespace: NODE_LEASE_NAMESPACE,
            ...(uid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid }] } : {}),
          },
          spec: { holderIdentity: nodeName, leaseDurationSeconds: this.duration, renewTime },
        },
        { signal },
      );
      this.renewals++;
      return;
    }
    this.latest = await client.update<Lease>(Resources.leases, await this.renewed(lease, renewTime), { signal });
    this.renewals++;
  }

  private async renewed(lease: Lease, renewTime: string): Promise<Lease> {
    const nodeName = this.o.nodeName;
    const next: Lease = { ...lease, spec: { ...lease.spec, holderIdentity: nodeName, leaseDurationSeconds: this.duration, renewTime } };
    if (!lease.metadata.ownerReferences?.length) {
      const uid = await this.o.nodeUid();
      if (uid) next.metadata = { ...next.metadata, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid }] };
    }
    return next;
  }

  /** the offline heartbeat journal, once `run` opened it */
  get journal(): HeartbeatJournal | undefined {
    return this.journalValue;
  }

  async run(signal: AbortSignal): Promise<void> {
    const log = this.o.logger;
    if (this.o.journalPath) {
      try {
        this.journalValue = await HeartbeatJournal.open(this.o.journalPath);
      } catch (err) {
        log.warn({ err, path: this.o.journalPath }, 'cannot read the offline heartbeat journal; not journaling');
      }
    }
    const backoff = new Backoff({ initialMs: 200, maxMs: 7_000 });
    while (!signal.aborted) {
      let wait: number;
      try {
        // Evidence first: when the controller sees the renewal that ends a partition it already
        // has the journaled heartbeats, and records its verdict without a NodeWasDown flicker.
        await this.bounded(signal, (s) => this.report(s));
        const started = this.o.clock.now();
        await this.bounded(signal, (s) => this.renew(s));
        const outage = this.outage;
        wait = this.renewDelayMs(this.o.clock.now() - started, outage !== undefined);
        backoff.reset();
        this.offline = false;
        this.outage = undefined;
        if (outage) {
          log.info({ outageMs: this.o.clock.now() - outage.sinceMs, failedRenewals: outage.failures }, 'node lease renewed again after failures');
          await this.o.onReconnect?.(signal).catch((err: unknown) => {
            if (!signal.aborted) log.warn({ err }, 'reconnect hook failed');
          });
        }
      } catch (err) {
        if (signal.aborted) return;
        this.offline = true;
        wait = Math.min(backoff.next(), await this.journalBeat());
        // one warning per outage, without a stack (the cause is the link, not this code); the retries at debug
        const reason = err instanceof Error ? err.message : String(err);
        if (this.outage) {
          this.outage.failures++;
          log.debug({ reason, delayMs: wait }, 'node lease renewal failed again');
        } else {
          this.outage = { sinceMs: this.o.clock.now(), failures: 1 };
          log.warn({ reason, delayMs: wait }, 'node lease renewal failed; journaling heartbeats until it succeeds');
        }
      }
      try {
        await this.o.clock.sleep(wait, signal);
      } catch {
        return;
      }
    }
  }

  /** a call that hangs (a black-holed link) must not hold up the heartbeat journal */
  private async bounded(signal: AbortSignal, call: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const s = timeoutSignal(signal, Math.max(this.interval, 5_000));
    try {
      await call(s);
    } finally {
      s.clear();
    }
  }

  /** Journal a heartbeat if one is due; returns ms until the next one is due. */
  private async journalBeat(): Promise<number> {
    const j = this.journalValue;
    if (!j) return this.interval;
    const now = this.o.clock.now();
    const last = j.pending?.lastMs;
    if (last === undefined || now - last >= this.interval || now < last) {
      try {
        await j.record(now);
      } catch (err) {
        this.o.logger.warn({ err }, 'cannot journal offline heartbeat');
      }
      return this.interval;
    }
    return last + this.interval - now;
  }

  /** Deliver journaled heartbeats (kept for the next attempt when this fails). */
  private async report(signal: AbortSignal): Promise<void> {
    const j = this.journalValue;
    const pending = j?.pending;
    if (!j || !pending) return;
    try {
      await this.o.client.patch(
        Resources.nodes,
        this.o.nodeName,
        'merge',
        { metadata: { annotations: { [OFFLINE_HEARTBEATS_ANNOTATION]: offlineHeartbeatsAnnotation(pending) } } },
        { signal },
      );
    } catch (err) {
      // NotFound: the Node is not registered yet (the agent started offline); the next renewal tries again.
      // During an outage the renewal's own line says why; this one would repeat it every interval.
      if (!signal.aborted && !isHedgeError(err, 'NotFound')) {
        const reason = err instanceof Error ? err.message : String(err);
        if (this.offline) this.o.logger.debug({ reason }, 'could not report offline heartbeats');
        else this.o.logger.warn({ reason }, 'could not report offline heartbeats');
      }
      return;
    }
    this.reports++;
    this.o.logger.info({ count: pending.count }, 'reported heartbeats journaled while the cloud was unreachable');
    await j.clear(pending).catch((err: unknown) => this.o.logger.warn({ err }, 'cannot clear offline heartbeat journal'));
  }
}
