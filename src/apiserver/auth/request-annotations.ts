import type { IncomingMessage } from 'node:http';

/**
 * Audit annotations an authenticator adds to the request it authenticates (upstream's
 * audit.AddAuditAnnotation from inside authentication, e.g. `authentication.k8s.io/stale-token`):
 * kept beside the request until the request pipeline begins its audit event, which takes them.
 */
const notes = new WeakMap<IncomingMessage, Record<string, string>>();

export function annotateAuthentication(req: IncomingMessage, key: string, value: string): void {
  const own = notes.get(req);
  if (own) own[key] = value;
  else notes.set(req, { [key]: value });
}

export function authenticationAnnotations(req: IncomingMessage): Readonly<Record<string, string>> | undefined {
  return notes.get(req);
}
