#!/bin/sh
":" //# ; case "$1" in node) f='--max-semi-space-size=1 --v8-pool-size=1 --max-opt=0';; *) f='--max-semi-space-size=64';; esac; exec node $f "$0" "$@"
// Line 2 is shell and JavaScript at once: sh runs it (`":"` is a no-op, then it picks the V8 flags
// for the role and execs node on this file), node sees a string and a comment. V8 heap flags can
// only be given at process start, so this is how each role gets its own: `hedge node` (agent +
// hub, long-running beside the pods on a small host) a 1 MiB semi-space and one V8 worker thread
// (~19 MiB less resident than an 8 MiB young-generation cap, bench/agent-rss.ts), and
// --max-opt=0: its JavaScript runs in the interpreter only, never TurboFan nor Sparkplug, whose compiler text
// pages, compile zones (malloc) and code cost ~9 MiB resident with 20 pods (bench/agent-rss.ts:
// 83 -> 74 MiB created, 79 -> 70 adopted; --max-opt=1, Sparkplug kept, ~3 MiB more). The node's
// work is I/O and child processes, not hot JS loops: adopting 20 pods takes less CPU (no
// compiles), creating them ~20% more in one run, runc pod start p50 466 vs 438 ms
// (bench/pod-start.ts, loaded machine); WebAssembly (undici's parser in fetch) still compiles.
// Every other command (the server foremost) gets a 64 MiB young-generation cap and the optimizing
// tiers: at 10,000 hollow nodes (bench/fleet.ts, 1,000 Lease renewals/s, ~120 MB/s allocated) an
// 8 MiB cap meant ~15 scavenges a second, 8-12 ms each with the requests in flight copied and
// promoted (12 % of the event loop), and renewal p50 / p99 203-270 / 2,061-2,099 ms at 0.9 ms of
// CPU each; with 64 MiB 37-39 / 996-1,089 ms at 0.7-0.8 ms, RSS 1,533-1,566 vs 1,551-1,852 MiB
// (fewer short-lived objects promoted). V8 grows the young generation to the cap only under
// allocation pressure: an idle server stays small. --lite-mode would save ~25 MiB
// but implies --jitless: no WebAssembly, so undici and fetch (registry pulls, the Loki sink) fail.
// Not --optimize-for-size: it made V8 collect for memory (its major GCs compact and shrink), and
// with 100 idle pods the node's CPU was ~10% higher with it (bench/density.ts --idle-only: 1.10 vs
// 1.01 % and 1.14 vs 1.04 % of a core in two runs); it saved 1-3 MiB at rest and ~20 MiB right
// after adopting 100 pods (bench/agent-rss.ts 100: 83 vs 103-107 MiB 5 s after, ≤ 120 MB either way). Measured without a gain:
// --max-opt=1 (Sparkplug: idle CPU unchanged, 1.5 MiB more), --no-flush-bytecode (idle CPU
// unchanged), and (20 pods adopted, within the run's noise) MALLOC_ARENA_MAX=2, also with fixed
// MALLOC_MMAP_THRESHOLD_/TRIM_THRESHOLD_, and --single-threaded-gc (more CPU). A `node) f='...'; export VAR=value;;` case would give the
// node an environment too (the benches read it). Running `node bin/hedge.js ...` directly
// skips this line (some of these flags are refused in NODE_OPTIONS: give them to node itself).
// Launcher: run the bundle from `npm run build` (dist/) when no source it was built from changed
// since (bin/dist-current.js), else the TypeScript sources through tsx. The bundle starts faster
// and keeps ~30 MB less resident (no transpiler in the process); a stale bundle is never run.
// HEDGE_FROM_SOURCE=1 forces the sources.
import { fileURLToPath } from 'node:url';
import { distIsCurrent } from './dist-current.js';

if (process.env.HEDGE_FROM_SOURCE !== '1' && distIsCurrent(fileURLToPath(new URL('..', import.meta.url)))) {
  await import('../dist/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
