import type { LifecycleHandler } from 'kubernetes-types/core/v1.js';
import { runProbe } from './probe.ts';

/** preStop exec/httpGet (sleep too), bounded by the grace period; resolves when the hook ends */
export async function runPreStop(
  h: LifecycleHandler,
  t: { exec: (command: string[], signal: AbortSignal) => Promise<number>; podIP?: string; timeoutMs: number; signal: AbortSignal },
): Promise<void> {
  if (h.sleep) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(h.sleep?.seconds ?? 0, t.timeoutMs / 1000) * 1000);
      t.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
    return;
  }
  const res = await runProbe({ exec: h.exec, httpGet: h.httpGet, tcpSocket: h.tcpSocket }, { exec: t.exec, podIP: t.podIP, timeoutMs: t.timeoutMs });
  if (!res.ok) throw new Error(`preStop hook failed: ${res.message}`);
}
