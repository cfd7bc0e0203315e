/**
 * Evidence the edge agent leaves on its Node when it reconnects: how many heartbeats it
 * journaled locally while the cloud was unreachable. The agent writes it (agent/lease), the
 * node lifecycle controller reads it: the format lives here, once. JSON, e.g.
 * `{"count":42,"first":"2026-01-01T00:00:10Z","last":"2026-01-01T00:07:00Z"}` (times on the node's clock).
 */
export const OFFLINE_HEARTBEATS_ANNOTATION = 'hedge.io/offline-heartbeats';

export interface OfflineHeartbeats {
  count: number;
  first?: string;
  last?: string;
}

/** The annotation's value: `{"count":3,"first":"…Z","last":"…Z"}`. */
export function formatOfflineHeartbeats(h: OfflineHeartbeats): string {
  const out: OfflineHeartbeats = { count: h.count };
  if (h.first !== undefined) out.first = h.first;
  if (h.last !== undefined) out.last = h.last;
  return JSON.stringify(out);
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
