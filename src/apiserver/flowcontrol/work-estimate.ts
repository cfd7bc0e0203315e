import type { RequestInfo } from '../request-info.ts';

/**
 * How much of a level a request takes (upstream's flowcontrol/request WorkEstimate): `seats`
 * while it executes; then `finalSeats` for `additionalLatencyMs` more, standing for the work
 * its watch events cause after the response (upstream's mutating work estimator).
 */
export interface WorkEstimate {
  seats: number;
  finalSeats: number;
  additionalLatencyMs: number;
}

/** upstream's DefaultWorkEstimatorConfig */
export const MINIMUM_SEATS = 1;
export const MAXIMUM_SEATS_LIMIT = 10;
export const OBJECTS_PER_SEAT = 100;
export const WATCHES_PER_SEAT = 10;
export const EVENT_ADDITIONAL_DURATION_MS = 5;

/** the count upstream's object count tracker gives when the count went stale */
const INFINITE_OBJECT_COUNT = 1_000_000_000;

export interface WorkEstimatorSources {
  /**
   * objects stored of `group/resource` (upstream's object count tracker): undefined when the
   * resource is not counted (aggregated, unknown: minimum seats), 'stale' when the count could
   * not be refreshed (maximum seats)
   */
  objectCount(group: string, resource: string): number | 'stale' | undefined;
  /** watches open that a change of this request's object reaches (watch-tracker.ts) */
  watchCount(info: RequestInfo): number;
}

const ONE: WorkEstimate = { seats: MINIMUM_SEATS, finalSeats: 0, additionalLatencyMs: 0 };

/**
 * upstream's WorkEstimator: LISTs (and a WATCH that asks for sendInitialEvents) by the number of
 * objects they go through, creates/updates/patches/deletes by the watches their events reach,
 * anything else one seat. `maxSeats` is the level's cap (max-seats.ts), at most MAXIMUM_SEATS_LIMIT.
 */
export function estimateWork(info: RequestInfo, query: URLSearchParams, maxSeatsOfLevel: number, src: WorkEstimatorSources): WorkEstimate {
  const maxSeats = maxSeatsOfLevel <= 0 || maxSeatsOfLevel > MAXIMUM_SEATS_LIMIT ? MAXIMUM_SEATS_LIMIT : maxSeatsOfLevel;
  if (!info.isResourceRequest) return ONE;
  switch (info.verb) {
    case 'list':
    case 'watch':
      return { seats: listSeats(info, query, maxSeats, src), finalSeats: 0, additionalLatencyMs: 0 };
    case 'create':
    case 'update':
    case 'patch':
    case 'delete':
    case 'deletecollection':
      return mutating(info, maxSeats, src);
    default:
      return ONE;
  }
}

/** upstream's listWorkEstimator with the object-count formula (1 seat per 100 objects gone through) */
function listSeats(info: Extract<RequestInfo, { isResourceRequest: true }>, query: URLSearchParams, maxSeats: number, src: WorkEstimatorSources): number {
  // a watch costs more than the minimum only when it asks for its initial events explicitly
  if (info.verb === 'watch' && query.get('sendInitialEvents') !== 'true') return MINIMUM_SEATS;
  const limit = Number.parseInt(query.get('limit') ?? '', 10);
  if (query.has('limit') && !(limit >= 0)) return maxSeats; // fails validation: the maximum, as upstream
  let stored = src.objectCount(info.group, info.resource);
  if (stored === undefined) return MINIMUM_SEATS;
  if (stored === 'stale') stored = INFINITE_OBJECT_COUNT;
  const fieldSelector = query.get('fieldSelector') ?? '';
  const labelSelector = query.get('labelSelector') ?? '';
  // a list for one name (in the path, or fieldSelector metadata.name=x) is a get in storage
  const single = info.name !== '' || /^metadata\.name==?[^,]+$/.test(fieldSelector);
  const limited = limit > 0 && limit < stored ? limit : stored;
  let objects: number;
  if (single) objects = 1;
  // hedge has no watch cache: a list reads the store (upstream's from-storage case); a watch's initial events are all objects
  else if (info.verb === 'watch') objects = stored;
  else if (fieldSelector !== '' || labelSelector !== '') objects = stored + limited;
  else objects = 2 * limited;
  return Math.min(maxSeats, Math.max(MINIMUM_SEATS, Math.ceil(objects / OBJECTS_PER_SEAT)));
}

/**
 * upstream's mutatingWorkEstimator: the event a write makes goes to every watch of its objects;
 * from WATCHES_PER_SEAT watches on, that work (EVENT_ADDITIONAL_DURATION_MS a watch-seat) is
 * charged after the request as finalSeats (at most maxSeats) held for additionalLatency
 */
function mutating(info: Extract<RequestInfo, { isResourceRequest: true }>, maxSeats: number, src: WorkEstimatorSources): WorkEstimate {
  // a token request makes no event (upstream isRequestExemptFromWatchEvents)
  if (info.resource === 'serviceaccounts' && info.subresource === 'token') return ONE;
  const watches = src.watchCount(info);
  if (watches < WATCHES_PER_SEAT) return ONE;
  const seats = Math.ceil(watches / WATCHES_PER_SEAT);
  const finalSeats = Math.min(seats, maxSeats);
  return { seats: MINIMUM_SEATS, finalSeats, additionalLatencyMs: (seats * EVENT_ADDITIONAL_DURATION_MS) / finalSeats };
}

/**
 * upstream's per-level cap on a request's seats: 15% of the level's nominal seats (which keeps
 * 10 at the default 600 server seats), at most nominal/handSize, at least 1. A level without
 * queues (limitResponse Reject) has no cap of its own: 0, so MAXIMUM_SEATS_LIMIT applies (upstream).
 */
export function maxSeatsOfLevel(nominalSeats: number, handSize: number | undefined): number {
  if (!handSize || handSize <= 0) return 0;
  return Math.max(1, Math.min(Math.ceil(nominalSeats * 0.15), Math.floor(nominalSeats / handSize)));
}
