import { HttpAgent, httpRequest } from '../lib/http/request.ts';
import type { ConnectionConfig } from '../client/kubeconfig.ts';
import type { Logger } from '../lib/log.ts';

export type Connectivity = 'online' | 'offline';

export interface HealthProbe {
  /** true when the cloud answered ready within the timeout */
  probe(signal: AbortSignal): Promise<boolean>;
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
}

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
 */
export function linkFirstProbe(link: () => CloudLink | undefined, fallback: HealthProbe, timeoutMs: number): HealthProbe {
  let failed: { link: CloudLink; heardAt: number } | undefined;
  return {
    async probe(signal) {
      const l = link();
      if (!l || (failed?.link === l && l.heardAt === failed.heardAt)) return fallback.probe(signal);
      failed = undefined;
      if (await l.alive(timeoutMs, signal)) return true;
      if (!signal.aborted) failed = { link: l, heardAt: l.heardAt };
      return false;
    },
    close: () => fallback.close(),
  };
}

export interface CloudHealthOptions {
  probe: HealthProbe;
  /** between probes (default 500 ms) */
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
      this.timer = setTimeout(() => void tick(), this.o.intervalMs ?? 500);
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
