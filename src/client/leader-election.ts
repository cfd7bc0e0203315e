import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { Logger } from '../lib/log.ts';
import { isHedgeError } from '../lib/errors.ts';
import { linkedSignal } from '../lib/signals.ts';
import type { KubeObject } from '../api/object.ts';
import { systemClock, type Clock } from './clock.ts';
import { formatMicroTime } from './micro-time.ts';
import { Resources } from './resources.ts';
import type { KubeClient } from './types.ts';

export interface LeaderElectionConfig {
  client: KubeClient;
  logger: Logger;
  namespace: string;
  name: string;
  identity: string;
  /** how long a non-renewed lease blocks others; default 15 s (kube-scheduler) */
  leaseDurationSeconds?: number;
  /** the leader steps down when it could not renew for this long; default 10 s */
  renewDeadlineSeconds?: number;
  /** pause between attempts; default 2 s */
  retryPeriodSeconds?: number;
  clock?: Clock;
}

type LeaseObject = Lease & KubeObject;

/**
 * Lease-based leader election (coordination.k8s.io/v1), the client-go algorithm:
 * another holder's lease counts as expired only when we have seen it unchanged for
 * leaseDurationSeconds on OUR clock, so skew between candidates does not matter.
 */
export class LeaderElector {
  private readonly clock: Clock;
  private readonly duration: number;
  private readonly renewDeadline: number;
  private readonly retry: number;
  /** the record we last saw, and when (our clock) it last changed */
  private observed?: { key: string; at: number };
  private leading = false;
  /** the Lease as our last successful create or update left it (its resourceVersion with it) */
  private written?: LeaseObject;

  constructor(private readonly cfg: LeaderElectionConfig) {
    this.clock = cfg.clock ?? systemClock;
    this.duration = cfg.leaseDurationSeconds ?? 15;
    this.renewDeadline = cfg.renewDeadlineSeconds ?? 10;
    this.retry = cfg.retryPeriodSeconds ?? 2;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaign until leading, run `lead(signal)` while leading, step down when renewal fails
   * (the lead signal aborts), campaign again; on `signal` abort, release the lease.
   */
  async run(signal: AbortSignal, lead: (signal: AbortSignal) => Promise<void> | void): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.acquireLoop(signal))) break;
      const term = new AbortController();
      const onAbort = (): void => term.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.cfg.logger.info({ lease: `${this.cfg.namespace}/${this.cfg.name}` }, 'became leader');
      const work = Promise.resolve()
        .then(() => lead(term.signal))
        .catch((err: unknown) => this.cfg.logger.error({ err }, 'leader work failed'));
      await this.renewLoop(term.signal);
      this.leading = false;
      term.abort();
      signal.removeEventListener('abort', onAbort);
      await work;
      // losing the lease while not shutting down means the apiserver did not answer renewals in time:
      // a warning (upstream's controller-manager exits on it), and what bench/fleet counts
      if (signal.aborted) this.cfg.logger.info('stopped leading');
      else this.cfg.logger.warn({ lease: `${this.cfg.namespace}/${this.cfg.name}`, renewDeadlineSeconds: this.renewDeadline }, 'lost the lease: stopped leading');
    }
    await this.release();
  }

  private async acquireLoop(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew(signal)) {
        this.leading = true;
        return true;
      }
      try {
        await this.clock.sleep(this.retry * 1000, signal);
      } catch {
        return false;
      }
    }
    return false;
  }

  /**
   * Renews every retry period; steps down when no renewal succeeded within the renew deadline. An
   * attempt is cut off at the deadline (client-go bounds it the same way): on an apiserver too busy
   * to answer, a GET or PUT that hangs for 30 s would otherwise keep this candidate leading long
   * after its lease expired and another took it, both running the controllers (seen at 5,000 hollow
   * nodes on etcd: two schedulers and two IPAM allocators for ~10 s). A renewal counts from when
   * it started, as the renewTime it writes does.
   */
  private async renewLoop(signal: AbortSignal): Promise<void> {
    let lastRenew = this.clock.now();
    while (!signal.aborted) {
      try {
        await this.clock.sleep(this.retry * 1000, signal);
      } catch {
        return;
      }
      const started = this.clock.now();
      const left = lastRenew + this.renewDeadline * 1000 - started;
      if (left <= 0) return;
      const deadline = new AbortController();
      const attempt = linkedSignal([signal, deadline.signal]);
      const timer = new AbortController();
      const sleeping = linkedSignal([signal, timer.signal]);
      void this.clock.sleep(left, sleeping).then(
        () => deadline.abort(new Error('lease renewal passed the renew deadline')),
        () => undefined,
      );
      let renewed: boolean;
      try {
        renewed = await this.tryAcquireOrRenew(attempt);
      } finally {
        timer.abort();
        sleeping.clear();
        attempt.clear();
      }
      if (renewed && !deadline.signal.aborted) lastRenew = started;
      else if (this.clock.now() - lastRenew >= this.renewDeadline * 1000 || deadline.signal.aborted || !this.stillOurs) return;
    }
  }

  /** set when a renewal found another holder (we must stop at once, not at the deadline) */
  private stillOurs = true;

  /** One attempt; true when we hold the lease afterwards. */
  async tryAcquireOrRenew(signal?: AbortSignal): Promise<boolean> {
    const { client, namespace, name, identity } = this.cfg;
    const now = this.clock.now();
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: this.duration,
      renewTime: formatMicroTime(now),
    };
    // client-go's fast path: a leader whose lease is still valid writes its renewal over the
    // Lease as it last wrote it, without reading it first (one request a renewal instead of two;
    // the server runs a dozen electors, each renewing every retry period). Anyone else's write in
    // between makes it a Conflict, and the read below decides.
    const valid = this.observed !== undefined && this.observed.at + this.duration * 1000 > now;
    if (this.leading && this.written && valid) {
      const last = this.written;
      try {
        const renewed = await client.update<LeaseObject>(Resources.leases, { ...last, spec: { ...last.spec, ...spec } }, { signal });
        this.renewed(renewed, now);
        return true;
      } catch (err) {
        this.written = undefined;
        if (signal?.aborted) return false;
        this.cfg.logger.debug({ err }, 'lease renewal over the last written Lease failed; reading it');
      }
    }
    try {
      let lease: LeaseObject;
      try {
        lease = await client.get<LeaseObject>(Resources.leases, name, { namespace, signal });
      } catch (err) {
        if (!isHedgeError(err, 'NotFound')) throw err;
        const created = await client.create<LeaseObject>(Resources.leases, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: { ...spec, acquireTime: spec.renewTime, leaseTransitions: 0 },
        });
        this.renewed(created, now);
        return true;
      }
      const cur = lease.spec ?? {};
      const key = JSON.stringify({ h: cur.holderIdentity, d: cur.leaseDurationSeconds, r: cur.renewTime });
      if (this.observed?.key !== key) this.observed = { key, at: now };
      const holder = cur.holderIdentity ?? '';
      const mine = holder === identity;
      const expired = this.observed.at + (cur.leaseDurationSeconds ?? this.duration) * 1000 <= now;
      if (!mine && holder !== '' && !expired) {
        this.stillOurs = !this.leading;
        return false;
      }
      const next: LeaseObject = {
        ...lease,
        spec: {
          ...cur,
          ...spec,
          acquireTime: mine ? cur.acquireTime : spec.renewTime,
          leaseTransitions: mine ? (cur.leaseTransitions ?? 0) : (cur.leaseTransitions ?? 0) + 1,
        },
      };
      this.renewed(await client.update<LeaseObject>(Resources.leases, next, { signal }), now);
      return true;
    } catch (err) {
      if (!signal?.aborted) this.cfg.logger.warn({ err }, 'lease acquire/renew failed');
      return false;
    }
  }

  /** our write of the Lease succeeded at `now` */
  private renewed(written: LeaseObject, now: number): void {
    const w = written.spec ?? {};
    this.observed = { key: JSON.stringify({ h: w.holderIdentity, d: w.leaseDurationSeconds, r: w.renewTime }), at: now };
    this.written = written;
    this.stillOurs = true;
  }

  /**
   * Give the lease up so another candidate need not wait for it to expire (client-go ReleaseOnCancel).
   * A renewal cut by the same stop may still land after the read (the server had it already): on
   * that Conflict the lease is read and released once more.
   */
  async release(): Promise<void> {
    const { client, namespace, name, identity } = this.cfg;
    for (let attempt = 1; ; attempt++) {
      try {
        const lease = await client.get<LeaseObject>(Resources.leases, name, { namespace });
        if (lease.spec?.holderIdentity !== identity) break;
        await client.update<LeaseObject>(Resources.leases, {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: formatMicroTime(this.clock.now()) },
        });
        break;
      } catch (err) {
        if (attempt < 2 && isHedgeError(err, 'Conflict')) continue;
        this.cfg.logger.warn({ err }, 'lease release failed');
        break;
      }
    }
    this.leading = false;
  }
}
