const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Go's time.ParseDuration (what Kubernetes' duration flags and config keys take), without a sign:
 * sequences of <number><unit> ("24h", "1h30m", "500ms"), in milliseconds; undefined when it is not one.
 */
export function parseDuration(s: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * unitMs[m[2]];
  return total;
}
