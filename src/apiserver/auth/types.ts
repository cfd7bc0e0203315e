import type { IncomingMessage } from 'node:http';

export interface UserInfo {
  username: string;
  groups: string[];
  uid?: string;
  /** extra attributes (impersonated with Impersonate-Extra-*; shown in audit events) */
  extra?: Record<string, string[]>;
}

/** Returns the user for a request (client cert or bearer token), or undefined when anonymous. */
export interface Authenticator {
  authenticate(req: IncomingMessage): UserInfo | undefined;
  /**
   * The user a bearer token alone stands for, as `authenticate` would find it (a TokenReview asks
   * this); absent when the authenticator takes no bearer tokens. Service account JWTs are not
   * this seam's: the TokenReview checks their audiences itself.
   */
  authenticateToken?(token: string): UserInfo | undefined;
}
