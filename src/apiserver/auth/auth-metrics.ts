import type * as Prom from 'prom-client';
import { Counter, exponentialBuckets, Histogram, type Registry } from '../../lib/prom.ts';

type CounterChild = Prom.Counter.Internal;
type HistogramChild = Prom.Histogram.Internal<'result'>;

/** upstream filters/metrics.go: what an authentication attempt came to */
export type AuthenticationResult = 'success' | 'failure' | 'error';
/** upstream filters/metrics.go: what an authorization attempt came to */
export type AuthorizationResult = 'allowed' | 'denied' | 'no-opinion' | 'error';
/** the authorizers whose decisions are counted, by upstream's authorizer type and name */
export type AuthorizerName = { type: 'Node'; name: 'node' } | { type: 'RBAC'; name: 'rbac' };

/**
 * Upstream's names for the apiserver's authentication and authorization metrics
 * (k8s.io/apiserver/pkg/endpoints/filters/metrics.go and pkg/authorization/metrics):
 * `authentication_attempts{result}`, `authentication_duration_seconds{result}`,
 * `authenticated_user_requests{username}`, `authorization_attempts_total{result}`,
 * `authorization_duration_seconds{result}` and `apiserver_authorization_decisions_total{type,name,decision}`
 * (terminal decisions of the configured authorizers; the system:masters short-cut is not one,
 * as upstream's privileged-group authorizer is not instrumented). The labelled children are made
 * once: a request costs an increment and an observation, no label hashing.
 */
export class AuthMetrics {
  readonly #attempts: Record<AuthenticationResult, CounterChild>;
  readonly #latency: Record<AuthenticationResult, HistogramChild>;
  readonly #users: Counter<'username'>;
  readonly #authzAttempts: Record<AuthorizationResult, CounterChild>;
  readonly #authzLatency: Record<AuthorizationResult, HistogramChild>;
  readonly #decisions: Counter<'type' | 'name' | 'decision'>;

  constructor(registry: Registry) {
    const registers = [registry];
    const buckets = exponentialBuckets(0.001, 2, 15);
    const attempts = new Counter({ name: 'authentication_attempts', help: 'Counter of authenticated attempts.', labelNames: ['result'], registers });
    const latency = new Histogram({ name: 'authentication_duration_seconds', help: 'Authentication duration in seconds broken out by result.', labelNames: ['result'], buckets, registers });
    this.#users = new Counter({ name: 'authenticated_user_requests', help: 'Counter of authenticated requests broken out by username.', labelNames: ['username'], registers });
    const authzAttempts = new Counter({
      name: 'authorization_attempts_total',
      help: "Counter of authorization attempts broken down by result. It can be either 'allowed', 'denied', 'no-opinion' or 'error'.",
      labelNames: ['result'],
      registers,
    });
    const authzLatency = new Histogram({ name: 'authorization_duration_seconds', help: 'Authorization duration in seconds broken out by result.', labelNames: ['result'], buckets, registers });
    this.#decisions = new Counter({
      name: 'apiserver_authorization_decisions_total',
      help: 'Total number of terminal decisions made by an authorizer split by authorizer type, name, and decision.',
      labelNames: ['type', 'name', 'decision'],
      registers,
    });
    const authn = ['success', 'failure', 'error'] as const;
    const authz = ['allowed', 'denied', 'no-opinion', 'error'] as const;
    this.#attempts = Object.fromEntries(authn.map((r) => [r, attempts.labels(r)])) as Record<AuthenticationResult, CounterChild>;
    this.#latency = Object.fromEntries(authn.map((r) => [r, latency.labels(r)])) as Record<AuthenticationResult, HistogramChild>;
    this.#authzAttempts = Object.fromEntries(authz.map((r) => [r, authzAttempts.labels(r)])) as Record<AuthorizationResult, CounterChild>;
    this.#authzLatency = Object.fromEntries(authz.map((r) => [r, authzLatency.labels(r)])) as Record<AuthorizationResult, HistogramChild>;
  }

  authenticated(result: AuthenticationResult, seconds: number, username?: string): void {
    this.#attempts[result].inc();
    this.#latency[result].observe(seconds);
    if (result === 'success' && username !== undefined) this.#users.labels(compressUsername(username)).inc();
  }

  authorized(result: AuthorizationResult, seconds: number): void {
    this.#authzAttempts[result].inc();
    this.#authzLatency[result].observe(seconds);
  }

  /** a terminal decision of one of the chain's authorizers */
  decided(by: AuthorizerName, decision: 'allowed' | 'denied'): void {
    this.#decisions.labels(by.type, by.name, decision).inc();
  }
}

/** upstream's compressUsername: known internal identities by name, the rest in two buckets (bounded cardinality) */
export function compressUsername(username: string): string {
  switch (username) {
    case 'admin':
    case 'client':
    case 'kube_proxy':
    case 'kubelet':
    case 'system:serviceaccount:kube-system:default':
      return username;
    default:
      return username.includes('@') ? 'email_id' : 'other';
  }
}
