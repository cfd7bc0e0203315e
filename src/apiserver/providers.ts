import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ResourceDef } from '../api/resources/types.ts';
import type { Logger } from '../lib/log.ts';
import type { UserInfo } from './auth/types.ts';
import type { RequestScope, ServerScope } from './handlers/scope.ts';
import type { ResourceStore } from './registry/resource-store.ts';
import type { ResourceRequestInfo } from './request-info.ts';

/**
 * A group (or part of one) whose resources are not plain stored objects: reviews answered on the
 * spot (SelfSubjectAccessReview), or data computed elsewhere (metrics.k8s.io from the nodes).
 * Its `resources` appear in discovery and OpenAPI like stored ones; every request for them goes
 * to `serve` after authentication and authorization.
 */
export interface ApiGroupProvider {
  readonly name: string;
  readonly resources: ResourceDef[];
  serve(rq: RequestScope): Promise<void>;
}

/** An upgraded (101) connection request: exec, attach, port-forward. */
export interface UpgradeScope {
  server: ServerScope;
  req: IncomingMessage;
  /** the client's raw socket; the handler owns it from here */
  socket: Duplex;
  /** bytes the client sent after the request head */
  head: Buffer;
  query: URLSearchParams;
  info: ResourceRequestInfo;
  def: ResourceDef;
  rs: ResourceStore;
  user: UserInfo;
  /** aborted when the client socket closes or the server shuts down */
  signal: AbortSignal;
  log: Logger;
}

/**
 * A subresource with its own handler (pods/log, pods/exec, serviceaccounts/token). `serve` takes
 * ordinary requests, `upgrade` takes connection upgrades; a missing one means 405 / 400.
 */
export interface SubresourceProvider {
  readonly group: string;
  readonly resource: string;
  readonly subresource: string;
  serve?(rq: RequestScope): Promise<void>;
  upgrade?(rq: UpgradeScope): Promise<void>;
}

export const subresourceKey = (group: string, resource: string, subresource: string): string => `${group}/${resource}/${subresource}`;
