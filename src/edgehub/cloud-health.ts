import { HttpAgent, httpRequest } from '../lib/http/request.ts';
import type { ConnectionConfig } from '../client/kubeconfig.ts';
import type { Logger } from '../lib/log.ts';
import { sleep } from '../lib/sleep.ts';

export type Connectivity = 'online' | 'offline';

export interface HealthProbe {
  /** true when the cloud answered ready within the timeout */
  probe(signal: AbortSignal): Promise<boolean>;
  /** resolves when the next probe is due, when the probe knows better than the loop's interval (undefined: after the interval) */
  due?(signal: AbortSignal): Promise<void> | undefined;
  close(): Promise<void>;
}

/**
 * GET /readyz on a dedicated connection pool, so a request stuck on the main pool does not hide the
 * answer. Twice a second for the node's life, so it allocates little: one parsed URL, and the
 * request's own timers (headersTimeoutMs, then what is left of `timeoutMs` for the body) instead of
 * a timeout signal combined with the caller's per probe (AbortSignal.any was a fifth of its CPU).
 */
export function readyzProbe(conn: ConnectionConfig, timeoutMs: number): HealthProbe {
  const agent = new HttpAgent({ ca: conn.ca, cert: conn.cert, key: conn.key, rejectUnauthorized: !conn.insecureSkipTLSVerify, connectTimeoutMs: timeoutMs, keepAliveMs: 5_000 });
  const headers: Record<string, string> = { accept: 'text/plain' };
  if (conn.token) headers.authorization = `Bearer ${conn.token}`;
  const url = new URL(`${conn.server}/readyz`);
  return {
    async probe(signal) {
      const deadline = performance.now() + timeoutMs;
      try {
        const res = await httpRequest(url, { agent, headers, signal, headersTimeoutMs: timeoutMs });
        const body = res.body;
        body.setTimeout(Math.max(1, deadline - performance.now()), () => body.destroy(new Error(`/readyz body not read within ${timeoutMs} ms`)));
        await body.dump();
        return res.statusCode === 200;
      } catch {
        return false;
      }
    },
    close: () => agent.close(),
  };
}

/** A cheaper sign of the cloud than an HTTP round trip: the node's tunnel to the apiserver (its MuxSession). */
export interface CloudLink {
  /** true as soon as anything comes back from the peer after a ping, false after `timeoutMs`, on abort, or once the link is gone */
  alive(timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** when the peer was last heard */
  readonly heardAt: number;
  /** ms since the peer was last heard */
  readonly silentMs: number;
  /** the peer sends a heartbeat (the apiserver granted the tunnel's): the silence after which it is late, ms */
  readonly heartbeatLateMs: number | undefined;
  /** resolves once the heartbeat is late, or the link ends, or `signal` aborts */
  heartbeatLate(signal: AbortSignal): Promise<void>;
}

/** the health loop's default pace: a probe every 500 ms, each given 1 s: a link lost is offline within 1.5 s */
export const HEALTH_INTERVAL_MS = 500;
export const HEALTH_TIMEOUT_MS = 1_000;
/**
 * the heartbeat the node's tunnel asks the apiserver for: one a second, so a beat may come up to
 * 500 ms late (or a ping sent when it is 200 ms late be answered within 300 ms) before the 1.5 s
 * of silence that are offline
 */
export const HEARTBEAT_MS = 1_000;

/**
 * The cloud's health from the link while `link()` gives one (the tunnel's WebSocket to the
 * apiserver is up), else from `fallback` (the /readyz probe). The apiserver answers /readyz
 * without checking anything more than that it runs, which its answering a ping on the tunnel
 * shows as well, over a connection kept open anyway: a 13-byte ping frame and its pong instead of
 * an HTTPS request and response, twice a second, and the tunnel needs no keepalive pings of its
 * own meanwhile. Same bound: a failed answer within `timeoutMs` is offline. A link that failed to
 * answer is not asked again until it is heard from (a late pong, the peer's own ping): until then
 * the fallback decides, so a tunnel session that is dead but not yet timed out does not keep the
 * hub offline once the cloud is back.
 *
 * A link whose peer sends a heartbeat (the apiserver granted the tunnel's `heartbeatMs`) is not
 * pinged while it was heard within about one heartbeat, and the next probe is due only when it
 * would not be: the node then neither sends anything for the cloud's health nor wakes for a probe
 * more often than the heartbeat arrives (each ping cost a timer wake-up, a send through TLS and
 * the pong's read, twice a second). When a heartbeat is late (by a fifth of its period) the probe
 * pings as above, but waits only until the link has been silent for `intervalMs + timeoutMs`: the
 * bound that pinging every `intervalMs` with a `timeoutMs` gives (a link lost just after it was
 * heard is offline that long after), so loss is noticed as soon as before. What changes is what a
 * slow link is allowed: not a 1 s round trip for each ping, but a heartbeat up to
 * `intervalMs + timeoutMs - heartbeat` late (HEARTBEAT_MS: 500 ms), or answering the ping sent
 * for a late one in what is left of that.
 */
export function linkFirstProbe(link: () => CloudLink | undefined, fallback: HealthProbe, timeoutMs: number, intervalMs = HEALTH_INTERVAL_MS): HealthProbe {
  let failed: { link: CloudLink; heardAt: number } | undefined;
  // silence a ping is given in any case: a loop that was blocked has not read what arrived meanwhile
  const minWaitMs = Math.min(timeoutMs, 250);
  const budget = intervalMs + timeoutMs;
  /** set by a probe the heartbeat answered: the link whose late heartbeat makes the next one due, or how long until then */
  let next: { link: CloudLink } | { inMs: number } | undefined;
  return {
    async probe(signal) {
      next = undefined;
      const l = link();
      if (!l || (failed?.link === l && l.heardAt === failed.heardAt)) return fallback.probe(signal);
      failed = undefined;
      let waitMs = timeoutMs;
      const lateMs = l.heartbeatLateMs;
      if (lateMs !== undefined) {
        const silent = l.silentMs;
        // heard within a heartbeat (and a fifth for jitter): nothing to ask until it is late
        if (lateMs <= budget - minWaitMs && silent < lateMs) {
          next = { link: l };
          return true;
        }
        // (a heartbeat slower than the budget allows: a probe in time to give a ping its minimum)
        if (silent < budget - minWaitMs) {
          next = { inMs: budget - minWaitMs - silent };
          return true;
        }
        waitMs = Math.max(minWaitMs, Math.min(timeoutMs, budget - silent));
      }
      if (await l.alive(waitMs, signal)) return true;
      if (!signal.aborted) failed = { link: l, heardAt: l.heardAt };
      return false;
    },
    due(signal) {
      if (!next) return undefined;
      return 'link' in next ? next.link.heartbeatLate(signal) : sleep(next.inMs, signal);
    },
    close: () => fallback.close(),
  };
}

export interface CloudHealthOptions {
  probe: HealthProbe;
  /** between probes (default HEALTH_INTERVAL_MS) */
  intervalMs?: number;
  logger: Logger;
  onChange: (state: Connectivity) => void;
}

/**
 * Watches the cloud continuously: a probe every `intervalMs` with a short timeout, so a lost link
 * is noticed within interval + timeout (≤ 2 s by default) whatever the clients are doing. A
 * forwarded request that fails at the transport layer reports it at once (`reportFailure`).
 */
export class CloudHealth {
  state: Connectivity = 'offline';
  /** when the state last changed (ms since epoch) */
  changedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(private readonly o: CloudHealthOptions) {}

  start(): void {
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      const ok = await this.o.probe.probe(this.abort.signal);
      if (this.stopped) return;
      this.set(ok ? 'online' : 'offline');
      const due = this.o.probe.due?.(this.abort.signal);
      if (due) void due.then(tick);
      else this.timer = setTimeout(() => void tick(), this.o.intervalMs ?? HEALTH_INTERVAL_MS);
    };
    void tick();
  }

  reportFailure(): void {
    this.set('offline');
  }

  private set(s: Connectivity): void {
    if (s === this.state) return;
    this.state = s;
    this.changedAt = Date.now();
    this.o.logger.info({ state: s }, s === 'online' ? 'cloud reachable' : 'cloud unreachable');
    this.o.onChange(s);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.timer);
    await this.o.probe.close();
  }
}
