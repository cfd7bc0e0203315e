/** The annotation that makes a node autonomous: "true", "false", or a Go-style duration ("24h", "1h30m"). */
export const AUTONOMY_ANNOTATION = 'hedge.io/autonomy';

export type Autonomy =
  | { kind: 'none' }
  | { kind: 'forever' }
  /** autonomous for `ms` after the node became unreachable */
  | { kind: 'for'; ms: number };

const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** time.ParseDuration subset: sequences of <number><unit>; no sign. */
export function parseDuration(s: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * unitMs[m[2]];
  return total;
}

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
