/**
 * Evidence the edge agent leaves on its Node when it reconnects: how many heartbeats it
 * journaled locally while the cloud was unreachable. JSON, e.g.
 * `{"count":42,"first":"2026-01-01T00:00:10Z","last":"2026-01-01T00:07:00Z"}` (times on the node's clock).
 */
export const OFFLINE_HEARTBEATS_ANNOTATION = 'hedge.io/offline-heartbeats';

export interface OfflineHeartbeats {
  count: number;
  first?: string;
  last?: string;
}

export function parseOfflineHeartbeats(value: string | undefined): OfflineHeartbeats | undefined {
  if (!value) return undefined;
  try {
    const v: unknown = JSON.parse(value);
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (typeof o.count !== 'number' || !Number.isFinite(o.count)) return undefined;
    return {
      count: o.count,
      first: typeof o.first === 'string' ? o.first : undefined,
      last: typeof o.last === 'string' ? o.last : undefined,
    };
  } catch {
    return undefined;
  }
}
