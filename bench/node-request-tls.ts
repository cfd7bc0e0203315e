/**
 * What one node-bound request (a metrics scrape: GET of a ~75 KB body, as `/metrics/resource` with
 * 100 pods) costs in TLS, both ends measured: the node's server runs in a child process with the
 * node role's V8 flags (bin/hedge.js), client certificates checked against a CA, as `hedge node`
 * serves it; the apiserver's side is this process. Two dialers alternate over the same kind of
 * stream (a fresh local connection per request, as each tunnel stream is relayed): this build's
 * `tunnelNodeDialer`, which resumes each node's TLS session and builds its client context once,
 * and the peer, a full handshake with a new client context per request (the dialer before).
 * Prints CPU ms per request (median of the rounds) on each side; asserts nothing.
 * Run: node --import tsx bench/node-request-tls.ts [--rounds 5] [--requests 40]
 */
import { fork } from 'node:child_process';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { createServer } from 'node:https';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { KubeObject } from '../src/api/object.ts';
import { generateCa, generateClientCert, generateServingCert } from '../src/apiserver/auth/pki.ts';
import { tunnelNodeDialer, type NodeDialer } from '../src/apiserver/node-proxy/node-dialer.ts';
import type { NodeTunnels } from '../src/apiserver/node-proxy/node-tunnels.ts';
import type { MuxStream } from '../src/lib/mux/index.ts';
import { percentile, printTable } from './apiserver-seed.ts';
import { launcherNodeFlags } from './lib/built-agent.ts';

const BODY_BYTES = 75_000;

if (process.argv[2] === 'serve') {
  // the node's side: its server, and its CPU on request
  const tls = JSON.parse(process.argv[3]!) as { cert: string; key: string; ca: string };
  const body = 'x'.repeat(BODY_BYTES);
  const server = createServer({ ...tls, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    res.writeHead(req.socket && (req.socket as { authorized?: boolean }).authorized ? 200 : 401);
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on('message', () => process.send!({ cpu: process.cpuUsage() }));
} else {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { rounds: { type: 'string', default: '5' }, requests: { type: 'string', default: '40' } } });
  const ROUNDS = Number(values.rounds);
  const REQUESTS = Number(values.requests);
  const ca = await generateCa('bench-ca');
  const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
  const client = await generateClientCert({ ca, commonName: 'kube-apiserver-kubelet-client' });
  const flags = launcherNodeFlags().split(/\s+/).filter(Boolean);
  const child = fork(fileURLToPath(import.meta.url), ['serve', JSON.stringify({ ...serving, ca: ca.cert })], { execArgv: [...flags, '--import', 'tsx'] });
  const port = await new Promise<number>((r) => child.once('message', (m) => r((m as { port: number }).port)));
  const nodeCpu = (): Promise<number> =>
    new Promise((r) => {
      child.once('message', (m) => {
        const c = (m as { cpu: NodeJS.CpuUsage }).cpu;
        r((c.user + c.system) / 1000);
      });
      child.send('cpu');
    });
  // each request's stream: a fresh local connection to the node's server, as the node relays a tunnel stream
  const tunnels = { open: (): MuxStream => connect(port, '127.0.0.1') as unknown as MuxStream } as unknown as NodeTunnels;
  const resuming = tunnelNodeDialer({ tunnels, client });
  // the peer: what the dialer did before, a new context and a full handshake per request
  const fresh: NodeDialer = {
    request: (r) =>
      new Promise((resolve, reject) => {
        const socket: Duplex = tlsConnect({ socket: connect(port, '127.0.0.1'), cert: client.cert, key: client.key, rejectUnauthorized: false });
        const opts: RequestOptions = { method: r.method, path: r.path, headers: { host: r.nodeName }, createConnection: (() => socket) as unknown as RequestOptions['createConnection'] };
        const req = httpRequest(opts, (res) => resolve({ kind: 'response', statusCode: res.statusCode ?? 0, headers: res.headers, body: res }));
        req.on('error', reject);
        req.end();
      }),
  };
  const scrape = async (d: NodeDialer): Promise<void> => {
    const res = await d.request({ nodeName: 'n', node: { metadata: { name: 'n' } } as KubeObject, method: 'GET', path: '/metrics/resource', headers: {}, signal: AbortSignal.timeout(10_000) });
    if (res.kind !== 'response' || res.statusCode !== 200) throw new Error(`scrape answered ${res.kind === 'response' ? res.statusCode : res.kind}`);
    let n = 0;
    for await (const c of res.body) n += (c as Buffer).length;
    if (n !== BODY_BYTES) throw new Error(`scrape body ${n} bytes`);
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const per = { resuming: { node: [] as number[], apiserver: [] as number[] }, fresh: { node: [] as number[], apiserver: [] as number[] } };
  for (const d of [resuming, fresh]) for (let i = 0; i < 5; i++) await scrape(d); // warm both
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, d] of round % 2 === 0 ? ([['resuming', resuming], ['fresh', fresh]] as const) : ([['fresh', fresh], ['resuming', resuming]] as const)) {
      await sleep(300);
      const n0 = await nodeCpu();
      const a0 = process.cpuUsage();
      for (let i = 0; i < REQUESTS; i++) {
        await scrape(d);
        await sleep(20); // one at a time, as a scrape every 15 s is
      }
      await sleep(300);
      const a = process.cpuUsage(a0);
      // minus the CPU query's own round trip (one IPC message each way), negligible beside 40 requests
      per[name].node.push(((await nodeCpu()) - n0) / REQUESTS);
      per[name].apiserver.push((a.user + a.system) / 1000 / REQUESTS);
    }
  }
  child.kill();
  const med = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);
  const fmt = (xs: number[]): string => `${med(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
  printTable(`node-bound request TLS, ${ROUNDS} rounds × ${REQUESTS} requests of ${BODY_BYTES} B, node flags: ${flags.join(' ')} (load avg ${loadavg().map((l) => l.toFixed(1)).join(' ')})`, [
    ['dialer', "node server's CPU ms per request, median (range)", "apiserver's side CPU ms per request", 'node ratio to fresh'],
    ['tunnelNodeDialer (resumes the session, one client context)', fmt(per.resuming.node), fmt(per.resuming.apiserver), (med(per.resuming.node) / med(per.fresh.node)).toFixed(2)],
    ['fresh handshake, new context per request (before)', fmt(per.fresh.node), fmt(per.fresh.apiserver), '1.00'],
  ]);
}
