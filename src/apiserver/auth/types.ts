import type { IncomingMessage } from 'node:http';

export interface UserInfo {
  username: string;
  groups: string[];
  uid?: string;
}

/** Returns the user for a request (client cert or bearer token), or undefined when anonymous. */
export interface Authenticator {
  authenticate(req: IncomingMessage): UserInfo | undefined;
}
