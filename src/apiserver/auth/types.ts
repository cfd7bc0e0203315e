import type { IncomingMessage } from 'node:http';

export interface UserInfo {
  username: string;
  groups: string[];
  uid?: string;
  /** extra attributes (impersonated with Impersonate-Extra-*; shown in audit events) */
  extra?: Record<string, string[]>;
}

/**
 * Returns the user for a request (client cert or bearer token), or undefined when nothing in it
 * is recognised (anonymous). A credential that is recognised but not valid (a service account
 * token whose pod is gone) throws HedgeError `Unauthorized` with the reason: the server logs the
 * reason and answers a bare 401 (upstream's authenticators return an error for it).
 */
export interface Authenticator {
  authenticate(req: IncomingMessage): UserInfo | undefined | Promise<UserInfo | undefined>;
  /**
   * The user a bearer token alone stands for, as `authenticate` would find it (a TokenReview asks
   * this); absent when the authenticator takes no bearer tokens. Service account JWTs are not
   * this seam's: the TokenReview checks their audiences itself.
   */
  authenticateToken?(token: string): UserInfo | undefined;
}
