/**
 * Preloaded into a benchmarked server (`node --import tsx --import bench/loop-probe.ts ...`): every
 * 5 s one stderr line with the event loop's delay and utilization, so a bench can tell a server
 * whose loop is saturated (utilization near 1 — busy, or runnable but waiting for a CPU) from one
 * that is idle while requests wait elsewhere (disk, locks, the network).
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const LOOP_PROBE_PREFIX = 'LOOP-PROBE'; // bench/fleet.ts reads these lines
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let last = performance.eventLoopUtilization();
setInterval(() => {
  const elu = performance.eventLoopUtilization(last);
  last = performance.eventLoopUtilization();
  const ms = (ns: number): string => (ns / 1e6).toFixed(0);
  process.stderr.write(`${LOOP_PROBE_PREFIX} ${JSON.stringify({ p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max), utilization: elu.utilization.toFixed(2) })}\n`);
  delay.reset();
}, 5000).unref();
