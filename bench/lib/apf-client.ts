/**
 * The load of bench/apf.ts, in its own process so the server's event loop runs only the server:
 * `flood` clients LIST pods as one user back to back while `nodes` node users renew their leases
 * every `periodMs`. Prints one JSON line: renewal latencies (ms) and counts by status.
 *   node --import tsx bench/lib/apf-client.ts URL FLOOD NODES PERIOD_MS DURATION_MS
 */
import { Agent, request } from 'node:http';

const [url, floodArg, nodesArg, periodArg, durationArg] = process.argv.slice(2);
const FLOOD = Number(floodArg);
const NODES = Number(nodesArg);
const PERIOD = Number(periodArg);
const DURATION = Number(durationArg);
const u = new URL(url!);
const floodAgent = new Agent({ keepAlive: true, maxSockets: FLOOD });
const nodeAgent = new Agent({ keepAlive: true, maxSockets: NODES });

function call(agent: Agent, method: string, path: string, token: string, body?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ method, host: u.hostname, port: u.port, path, agent, timeout: 120_000, headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/merge-patch+json', 'content-length': Buffer.byteLength(body) } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

const end = Date.now() + DURATION;
const lists: Record<number, number> = {};
const renewals: Record<number, number> = {};
const latencies: number[] = [];

const flood = Array.from({ length: FLOOD }, async () => {
  while (Date.now() < end) {
    const code = await call(floodAgent, 'GET', '/api/v1/namespaces/default/pods', 'user-flood');
    lists[code] = (lists[code] ?? 0) + 1;
    // a refused client backs off as client-go does (Retry-After: 1 s)
    if (code === 429) await new Promise((r) => setTimeout(r, 1000));
  }
});
const nodes = Array.from({ length: NODES }, async (_, i) => {
  // spread the nodes over the period, as real kubelets are
  await new Promise((r) => setTimeout(r, (PERIOD * i) / NODES));
  while (Date.now() < end) {
    const next = Date.now() + PERIOD;
    const body = JSON.stringify({ spec: { renewTime: new Date().toISOString().replace('Z', '000Z') } });
    const t0 = performance.now();
    const code = await call(nodeAgent, 'PATCH', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n${i}`, `node-n${i}`, body);
    latencies.push(performance.now() - t0);
    renewals[code] = (renewals[code] ?? 0) + 1;
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
});
await Promise.all([...flood, ...nodes]);
floodAgent.destroy();
nodeAgent.destroy();
process.stdout.write(`${JSON.stringify({ latencies, lists, renewals })}\n`);
