import type { ContainerPort, Probe } from 'kubernetes-types/core/v1.js';
import { connect } from 'node:net';
import { request } from 'node:http';

export type ProbeResult = { ok: true } | { ok: false; message: string };

export interface ProbeTarget {
  podIP?: string;
  /** runs a command in the container, resolving with its exit code */
  exec(command: string[], signal: AbortSignal): Promise<number>;
  timeoutMs: number;
  /** the container's ports, to resolve a named probe port (`port: http`) */
  ports?: ContainerPort[];
}

/** upstream FindPort: a number, a numeric string, or the name of one of the container's ports */
export function resolvePort(port: number | string | undefined, ports: ContainerPort[] = []): number {
  if (typeof port === 'number') return port;
  if (port === undefined || port === '') return Number.NaN;
  if (/^\d+$/.test(port)) return Number(port);
  return ports.find((p) => p.name === port)?.containerPort ?? Number.NaN;
}

/** One probe attempt (exec, httpGet, tcpSocket), bounded by timeoutSeconds. */
export async function runProbe(p: Probe, t: ProbeTarget): Promise<ProbeResult> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`probe timed out after ${t.timeoutMs}ms`)), t.timeoutMs);
  try {
    if (p.exec) {
      const code = await t.exec([...(p.exec.command ?? [])], ac.signal);
      return code === 0 ? { ok: true } : { ok: false, message: `command exited with ${code}` };
    }
    if (p.httpGet) {
      const host = p.httpGet.host || t.podIP;
      if (!host) return { ok: false, message: 'no pod IP' };
      return await httpProbe(host, resolvePort(p.httpGet.port, t.ports), p.httpGet.path ?? '/', p.httpGet.scheme ?? 'HTTP', p.httpGet.httpHeaders ?? [], ac.signal);
    }
    if (p.tcpSocket) {
      const host = p.tcpSocket.host || t.podIP;
      if (!host) return { ok: false, message: 'no pod IP' };
      return await tcpProbe(host, resolvePort(p.tcpSocket.port, t.ports), ac.signal);
    }
    return { ok: false, message: 'probe has no handler (grpc is not supported)' };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

function httpProbe(
  host: string,
  port: number,
  path: string,
  scheme: string,
  headers: readonly { name: string; value: string }[],
  signal: AbortSignal,
): Promise<ProbeResult> {
  if (scheme === 'HTTPS') return Promise.resolve({ ok: false, message: 'HTTPS probes are not supported yet' });
  return new Promise((resolve) => {
    const req = request(
      { host, port, path, method: 'GET', signal, headers: { 'User-Agent': 'kube-probe/1.32', ...Object.fromEntries(headers.map((h) => [h.name, h.value])) } },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400 ? { ok: true } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
      },
    );
    req.on('error', (err) => resolve({ ok: false, message: err.message }));
    req.end();
  });
}

function tcpProbe(host: string, port: number, signal: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = connect({ host, port, signal });
    s.once('connect', () => {
      s.destroy();
      resolve({ ok: true });
    });
    s.once('error', (err) => resolve({ ok: false, message: err.message }));
  });
}
