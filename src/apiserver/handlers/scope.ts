import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResourceDef } from '../../api/resources/types.ts';
import type { Logger } from '../../lib/log.ts';
import type { RequestAudit } from '../audit/index.ts';
import type { UserInfo } from '../auth/types.ts';
import type { Registry } from '../registry/registry.ts';
import type { ResourceStore } from '../registry/resource-store.ts';
import type { ResourceRequestInfo } from '../request-info.ts';
import type { FieldChecker } from './field-validation.ts';
import type { TableConverter } from './table.ts';
import type { PatchEngine } from './patch-engine.ts';

/** Everything the resource handlers share for the life of the server. */
export interface ServerScope {
  registry: Registry;
  log: Logger;
  maxBodyBytes: number;
  table: TableConverter;
  fields: FieldChecker;
  patch: PatchEngine;
  /** how often an idle watch with allowWatchBookmarks gets a BOOKMARK */
  bookmarkIntervalMs: number;
  /** watch length when the client sends no timeoutSeconds */
  defaultWatchTimeoutSeconds: number;
  /** aborted when the server closes; ends watches */
  closing: AbortSignal;
}

/** One resource request. */
export interface RequestScope {
  server: ServerScope;
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
  info: ResourceRequestInfo;
  def: ResourceDef;
  rs: ResourceStore;
  user: UserInfo;
  /** aborted when the client goes away */
  signal: AbortSignal;
  log: Logger;
  /** `Warning` headers to send (RFC 7234 299 format is applied when writing) */
  warnings: string[];
  /** the request's audit event when the policy audits it */
  audit?: RequestAudit;
  /** a watch has sent its initial events: flow control takes back its seats (upstream's watch initialization signal) */
  watchInitialized?(): void;
}
