import type * as Prom from 'prom-client';
import { statusFromError } from '../../../api/meta/status.ts';
import { isHedgeError } from '../../../lib/errors.ts';
import { Counter, Histogram, type Registry } from '../../../lib/prom.ts';

/** which of the cloud's reviews: authentication (TokenReview) or authorization (SubjectAccessReview) */
export type DelegatedReview = 'authn' | 'authz';

/**
 * The kubelet's metrics for the reviews it delegates to the apiserver
 * (k8s.io/apiserver authenticatorfactory / authorizerfactory metrics.go):
 * `apiserver_delegated_authn_request_total{code}` and `..._duration_seconds{code}`, the same for
 * authz. `code` is the HTTP status of the answer (`201`), or `<error>` when none came (the cloud
 * unreachable, no answer in time). Reviews answered from the cache are not requests: not counted.
 */
export class NodeAuthMetrics {
  readonly #total: Record<DelegatedReview, Prom.Counter<'code'>>;
  readonly #latency: Record<DelegatedReview, Prom.Histogram<'code'>>;

  constructor(registry: Registry) {
    const registers = [registry];
    const buckets = [0.25, 0.5, 0.7, 1, 1.5, 3, 5, 10];
    const make = (kind: DelegatedReview) => ({
      total: new Counter({ name: `apiserver_delegated_${kind}_request_total`, help: 'Number of HTTP requests partitioned by status code.', labelNames: ['code'], registers }),
      latency: new Histogram({ name: `apiserver_delegated_${kind}_request_duration_seconds`, help: 'Request latency in seconds. Broken down by status code.', labelNames: ['code'], buckets, registers }),
    });
    const authn = make('authn');
    const authz = make('authz');
    this.#total = { authn: authn.total, authz: authz.total };
    this.#latency = { authn: authn.latency, authz: authz.latency };
  }

  /** one review sent: `err` when it failed, `answered` false when no answer came (timed out, link down) */
  record(kind: DelegatedReview, seconds: number, outcome: { err?: unknown; answered: boolean }): void {
    const code = outcome.err === undefined ? '201' : outcome.answered ? codeOf(outcome.err) : '<error>';
    this.#total[kind].labels(code).inc();
    this.#latency[kind].labels(code).observe(seconds);
  }
}

/** a HedgeError the client made of an answer's Status carries its code; anything else had no answer */
function codeOf(err: unknown): string {
  return isHedgeError(err) && err.code !== 'Internal' ? String(statusFromError(err).code) : '<error>';
}
