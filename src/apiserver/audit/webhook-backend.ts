import { HttpAgent as HttpAgent, httpRequest } from '../../lib/http/request.ts';
import type { Logger } from '../../lib/log.ts';
import { BufferedBackend, type BatchConfig } from './buffered-backend.ts';
import type { AuditBackend, Delivery } from './log-backend.ts';
import type { AuditMetrics } from './metrics.ts';
import { pluginErrorReporter, type AuditPlugin } from './plugin-errors.ts';
import { realTimers, delay, type Timers } from '../../lib/timers.ts';
import { splitBatch, truncateEvent, type TruncateConfig } from './truncate.ts';
import type { ConnectionConfig } from '../../client/kubeconfig.ts';

export const WEBHOOK_MODES = ['batch', 'blocking', 'blocking-strict'] as const;
/**
 * batch: buffered, sent in the background; blocking: sent within the request, failures only
 * counted; blocking-strict: as blocking, and a RequestReceived event that cannot be sent fails
 * the request (upstream's ModeBlockingStrict)
 */
export type WebhookMode = (typeof WEBHOOK_MODES)[number];

/** where the events go: the cluster and user of the --audit-webhook-config-file kubeconfig, as the client reads one */
export type WebhookTarget = ConnectionConfig;

export interface AuditWebhookOptions {
  target: WebhookTarget;
  mode: WebhookMode;
  /** batch mode only */
  batch: BatchConfig;
  /** the first wait before a failed send is tried again; it grows 1.5x, 5 tries in all (upstream: 10 s) */
  initialBackoffMs: number;
  /** undefined = off */
  truncate?: TruncateConfig;
  /** the absolute time one POST may take (upstream's webhook client: 30 s) */
  requestTimeoutMs?: number;
}

/** upstream's DefaultRetryBackoffWithInitialDelay: factor 1.5, jitter 0.2, 5 steps */
export const RETRY_FACTOR = 1.5;
export const RETRY_JITTER = 0.2;
export const RETRY_STEPS = 5;

/** one POST of an EventList body; rejects on a connection error or a non-2xx answer */
export type WebhookPoster = (body: string) => Promise<void>;

/** the audit.k8s.io/v1 EventList of encoded event lines (each is one JSON object) */
export function eventList(lines: readonly string[]): string {
  let s = '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    s += (i ? ',' : '') + (l.endsWith('\n') ? l.slice(0, -1) : l);
  }
  return `${s}]}`;
}

/** A poster for `target` over one keep-alive agent; `close` drops its connections. */
export function httpPoster(target: WebhookTarget, timeoutMs = 30_000): { post: WebhookPoster; close(): void } {
  const agent = new HttpAgent({ ca: target.ca, cert: target.cert, key: target.key, rejectUnauthorized: !target.insecureSkipTLSVerify });
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, */*', 'user-agent': 'hedge-apiserver/audit-webhook' };
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  const post: WebhookPoster = async (body) => {
    let res;
    try {
      res = await httpRequest(target.server, { method: 'POST', agent, headers, body, timeoutMs });
    } catch (err) {
      const e = err as Error;
      throw new Error(`Post "${target.server}": ${e.name === 'TimeoutError' || e.name === 'AbortError' ? 'context deadline exceeded' : e.message}`, { cause: err });
    }
    const code = res.statusCode;
    if (code >= 200 && code < 300) return res.body.dump();
    // only a short reason is kept for the error
    const text = (await res.body.text().catch(() => '')).trim().slice(0, 200);
    throw new Error(`Post "${target.server}": the server responded with the status code ${code}${text ? `: ${text}` : ''}`);
  };
  return { post, close: () => void agent.close() };
}

export interface WebhookSenderOptions {
  post: WebhookPoster;
  initialBackoffMs: number;
  failed(plugin: AuditPlugin, n: number, err: unknown): void;
  timers?: Timers;
  random?: () => number;
}

/**
 * upstream's webhook backend: the events as one EventList POST, tried again after any error
 * (upstream's retryOnError: an audit receiver that comes back must still get them) with
 * exponential backoff; after the last try they are counted as plugin "webhook" and dropped.
 */
export class WebhookSender {
  readonly #o: WebhookSenderOptions;
  constructor(opts: WebhookSenderOptions) {
    this.#o = opts;
  }

  async send(lines: string[]): Promise<boolean> {
    const body = eventList(lines);
    const timers = this.#o.timers ?? realTimers;
    const random = this.#o.random ?? Math.random;
    let wait = this.#o.initialBackoffMs;
    let lastErr: unknown;
    for (let step = 1; step <= RETRY_STEPS; step++) {
      try {
        await this.#o.post(body);
        return true;
      } catch (err) {
        lastErr = err;
      }
      if (step === RETRY_STEPS) break;
      await delay(timers, wait * (1 + RETRY_JITTER * random()));
      wait *= RETRY_FACTOR;
    }
    this.#o.failed('webhook', lines.length, lastErr);
    return false;
  }
}

export interface CreateWebhookBackendOptions extends AuditWebhookOptions {
  metrics: AuditMetrics;
  logger: Logger;
  /** tests: another way to POST, and time */
  post?: WebhookPoster;
  timers?: Timers;
  random?: () => number;
}

/**
 * The backend of --audit-webhook-*: as upstream composes it, truncate (when enabled) around the
 * mode around the sender; batches are cut to truncate's maxBatchSize where they are sent.
 */
export function createWebhookBackend(o: CreateWebhookBackendOptions): AuditBackend & { readonly mode: WebhookMode } {
  const failed = pluginErrorReporter(o.metrics, o.logger);
  const http = o.post ? undefined : httpPoster(o.target, o.requestTimeoutMs);
  const sender = new WebhookSender({ post: o.post ?? http!.post, initialBackoffMs: o.initialBackoffMs, failed, timers: o.timers, random: o.random });
  const truncate = o.truncate;
  const send = async (lines: string[]): Promise<boolean> => {
    if (!truncate) return sender.send(lines);
    let ok = true;
    for (const part of splitBatch(lines, truncate.maxBatchSize)) ok = (await sender.send(part)) && ok;
    return ok;
  };
  const inFlight = new Set<Promise<unknown>>();
  let inner: { process(line: string): Delivery; close(): Promise<void> };
  switch (o.mode) {
    case 'batch':
      inner = new BufferedBackend({ ...o.batch, send, failed, timers: o.timers });
      break;
    case 'blocking':
    case 'blocking-strict': {
      const strict = o.mode === 'blocking-strict';
      inner = {
        process(line) {
          const p = send([line]);
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
          return strict ? p : p.then(() => true);
        },
        async close() {
          while (inFlight.size > 0) await Promise.all(inFlight);
        },
      };
      break;
    }
    default: {
      const never: never = o.mode;
      throw new Error(`unknown audit webhook mode ${String(never)}`);
    }
  }
  return {
    mode: o.mode,
    blocking: o.mode !== 'batch',
    process(line) {
      if (truncate) {
        const t = truncateEvent(line, truncate.maxEventSize);
        if (t instanceof Error) {
          failed('truncate', 1, t);
          // upstream's truncate backend answers for what it passed on: nothing here, so stored
          return undefined;
        }
        line = t;
      }
      return inner.process(line);
    },
    async close() {
      await inner.close();
      http?.close();
    },
  };
}

/** upstream's union backend: every event to each; stored only if every backend stored it */
export function unionBackend(backends: AuditBackend[]): AuditBackend {
  if (backends.length === 1) return backends[0]!;
  return {
    blocking: backends.some((b) => b.blocking),
    process(line) {
      let pending: Promise<boolean>[] | undefined;
      for (const b of backends) {
        const d = b.process(line);
        if (d) (pending ??= []).push(d);
      }
      return pending ? Promise.all(pending).then((r) => r.every(Boolean)) : undefined;
    },
    async close() {
      await Promise.all(backends.map((b) => b.close()));
    },
  };
}
