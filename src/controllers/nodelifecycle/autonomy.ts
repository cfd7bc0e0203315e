import { parseDuration } from '../../lib/duration.ts';

/** The annotation that makes a node autonomous: "true", "false", or a Go-style duration ("24h", "1h30m"). */
export const AUTONOMY_ANNOTATION = 'hedge.io/autonomy';

export type Autonomy =
  | { kind: 'none' }
  | { kind: 'forever' }
  /** autonomous for `ms` after the node became unreachable */
  | { kind: 'for'; ms: number };

/**
 * Unparseable values count as autonomous forever: whoever set the annotation wanted the pods
 * kept, and a typo must not cost them their workloads. The controller logs such values.
 */
export function parseAutonomy(value: string | undefined): Autonomy & { invalid?: boolean } {
  if (value === undefined) return { kind: 'none' };
  const v = value.trim().toLowerCase();
  if (v === 'true') return { kind: 'forever' };
  if (v === 'false' || v === '') return { kind: 'none' };
  const ms = parseDuration(v);
  if (ms === undefined) return { kind: 'forever', invalid: true };
  return ms > 0 ? { kind: 'for', ms } : { kind: 'none' };
}
