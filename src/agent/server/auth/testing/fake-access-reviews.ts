import type { AccessDecision, AccessReviews, NodeUser } from '../access-reviews.ts';
import type { NodeRequestAttributes } from '../request-attributes.ts';

/**
 * The cloud's TokenReview and SubjectAccessReview in memory: tokens it knows, grants of
 * `verb` on `nodes/<subresource>` to a user or group, and switches for a cloud that fails every
 * review (offline) or never answers one (a link that swallows traffic).
 */
export class FakeAccessReviews implements AccessReviews {
  readonly tokens = new Map<string, NodeUser>();
  readonly #grants = new Set<string>();
  tokenReviews = 0;
  accessReviews = 0;
  /** every review fails with this (the hub's 503 while offline) */
  failure: Error | undefined;
  /** reviews never settle, whatever their signal says */
  hang = false;

  /** `subject` (a user or group name) may `verb` nodes/`subresource` */
  allow(subject: string, verb: string, subresource: string): void {
    this.#grants.add(`${subject}|${verb}|${subresource}`);
  }

  async reviewToken(token: string): Promise<NodeUser | undefined> {
    this.tokenReviews++;
    await this.#answer();
    return this.tokens.get(token);
  }

  async reviewAccess(user: NodeUser, attrs: NodeRequestAttributes): Promise<AccessDecision> {
    this.accessReviews++;
    await this.#answer();
    const allowed = [user.username, ...user.groups].some((s) => this.#grants.has(`${s}|${attrs.verb}|${attrs.subresource}`));
    return allowed ? { allowed } : { allowed, reason: 'no RBAC policy matched' };
  }

  #answer(): Promise<void> {
    if (this.hang) return new Promise<void>(() => undefined);
    if (this.failure) return Promise.reject(this.failure);
    return Promise.resolve();
  }
}
