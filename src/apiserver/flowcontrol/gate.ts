import type { ServerResponse } from 'node:http';
import { HedgeError } from '../../lib/errors.ts';
import type { UserInfo } from '../auth/types.ts';
import type { RequestInfo } from '../request-info.ts';

/** What the request pipeline asks between impersonation and authorization (upstream's place). */
export interface FlowGate {
  /**
   * Holds the request until it may run: a ticket to release once it is done, or HedgeError
   * TooManyRequests (429, Retry-After). Response headers (the APF UIDs) are set on `res`.
   */
  admit(user: UserInfo, info: RequestInfo, res: ServerResponse, query?: URLSearchParams): Ticket | Promise<Ticket>;
}

export interface Ticket {
  /** a watch's initial events are sent: its seats are given back (the watch still counts until `release`) */
  initialized?(): void;
  /** the request is done */
  release(): void;
}

export const freeTicket: Ticket = { release() {} };

/** upstream's BasicLongRunningRequestCheck: watch and proxy verbs, attach/exec/proxy/log/portforward subresources */
const longRunningSubresources = new Set(['attach', 'exec', 'proxy', 'log', 'portforward']);
export function isLongRunning(info: RequestInfo): boolean {
  if (info.verb === 'watch') return true;
  return info.isResourceRequest && longRunningSubresources.has(info.subresource);
}

const mutatingVerbs = new Set(['create', 'update', 'patch', 'delete', 'deletecollection', 'post', 'put']);
export function isMutating(info: RequestInfo): boolean {
  return mutatingVerbs.has(info.verb);
}

/** upstream's wording (filters/maxinflight.go tooManyRequests), as a Status with retryAfterSeconds */
export function tooManyRequests(retryAfterSeconds: number): HedgeError {
  return new HedgeError('TooManyRequests', 'Too many requests, please try again later.', { details: { retryAfterSeconds } });
}

/**
 * `--enable-priority-and-fairness=false`: upstream's max-in-flight filter. Read-only and mutating
 * requests have separate limits (0 = unlimited); over the limit a request is rejected at once;
 * long-running requests and system:masters are not limited.
 */
export class MaxInFlight implements FlowGate {
  #readonly = 0;
  #mutating = 0;
  readonly #ticketRO: Ticket = { release: () => void this.#readonly-- };
  readonly #ticketMut: Ticket = { release: () => void this.#mutating-- };

  constructor(readonly limits: { readonly: number; mutating: number }) {}

  admit(user: UserInfo, info: RequestInfo): Ticket {
    if (isLongRunning(info) || user.groups.includes('system:masters')) return freeTicket;
    if (isMutating(info)) {
      if (this.limits.mutating > 0 && this.#mutating >= this.limits.mutating) throw tooManyRequests(1);
      this.#mutating++;
      return onceTicket(this.#ticketMut);
    }
    if (this.limits.readonly > 0 && this.#readonly >= this.limits.readonly) throw tooManyRequests(1);
    this.#readonly++;
    return onceTicket(this.#ticketRO);
  }

  get inFlight(): { readonly: number; mutating: number } {
    return { readonly: this.#readonly, mutating: this.#mutating };
  }
}

function onceTicket(t: Ticket): Ticket {
  let done = false;
  return {
    release() {
      if (done) return;
      done = true;
      t.release();
    },
  };
}
