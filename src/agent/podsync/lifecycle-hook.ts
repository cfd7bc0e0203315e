import type { ContainerPort, LifecycleHandler } from 'kubernetes-types/core/v1.js';
import { runProbe } from './probe.ts';

/**
 * A container's lifecycle hook (preStop, postStart): exec, httpGet (tcpSocket, deprecated, too)
 * or sleep, bounded by `timeoutMs`; resolves when the hook ends, rejects when it failed.
 */
export async function runLifecycleHook(
  kind: 'preStop' | 'postStart',
  h: LifecycleHandler,
  t: { exec: (command: string[], signal: AbortSignal) => Promise<number>; podIP?: string; ports?: ContainerPort[]; timeoutMs: number; signal: AbortSignal },
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
  const res = await runProbe({ exec: h.exec, httpGet: h.httpGet, tcpSocket: h.tcpSocket }, { exec: t.exec, podIP: t.podIP, ports: t.ports, timeoutMs: t.timeoutMs });
  if (!res.ok) throw new Error(`${kind} hook failed: ${res.message}`);
}
