/**
 * The node tunnel against direct dialing, side by side in one run: one node server (TLS, the
 * apiserver's client certificate, as `hedge node` runs it) reached two ways — as Node "direct"
 * (the apiserver dials it) and as Node "tunnelled" (advertises a dead port; only its tunnel
 * reaches it). Measures exec round trips (one open exec, stdin→stdout echo; and a whole exec per
 * round trip) and `kubectl port-forward` download throughput. Prints tables; asserts nothing.
 *   node --import tsx bench/tunnel.ts [--rtts 300] [--execs 30] [--mib 64] [--downloads 3]
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, get } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { WebSocket } from 'ws';
import { FakeRuntime, startFakeContainer } from '../src/agent/runtime/testing/fake-runtime.ts';
import type { ContainerId } from '../src/agent/runtime/types.ts';
import { startNodeServer } from '../src/agent/server/node-server.ts';
import { generateCa, generateClientCert, generateServingCert } from '../src/apiserver/auth/pki.ts';
import { nodeAt, podOn } from '../src/apiserver/testing/fake-kubelet.ts';
import { startTestServer, testToken } from '../src/apiserver/testing/test-server.ts';
import { startTunnelClient } from '../src/edgehub/tunnel/index.ts';
import { silentLogger } from '../src/lib/log.ts';
import { findKubectl } from '../test/e2e/harness.ts';
import { printTable, summarize } from './apiserver-seed.ts';

const { values } = parseArgs({ options: { rtts: { type: 'string', default: '300' }, execs: { type: 'string', default: '30' }, mib: { type: 'string', default: '64' }, downloads: { type: 'string', default: '3' } } });
const RTTS = Number(values.rtts);
const EXECS = Number(values.execs);
const MIB = Number(values.mib);
const DOWNLOADS = Number(values.downloads);
const kubectlPath = findKubectl();

const dir = await mkdtemp(join(tmpdir(), 'hedge-bench-tunnel-'));
const stop = new AbortController();
const blob = Buffer.alloc(MIB * 1024 * 1024, 'x');
const podHttp = createServer((_req, res) => res.end(blob));
await new Promise<void>((r) => podHttp.listen(0, '127.0.0.1', r));
const podPort = (podHttp.address() as AddressInfo).port;

// one fake container whose exec is `cat`, shared by both pods
const runtime = new FakeRuntime();
await mkdir(join(dir, 'c'), { recursive: true });
await writeFile(join(dir, 'c', '0.log'), '');
await startFakeContainer(runtime, { pod: { uid: 'u1', namespace: 'default', name: 'p' }, name: 'main', stateDir: dir, logPath: join(dir, 'c', '0.log') });
runtime.execResult = async (_cfg, req) => {
  for await (const chunk of req.stdin as AsyncIterable<Buffer>) req.stdout?.write(chunk);
  return 0;
};
const podObj = (name: string): Pod => ({ metadata: { name, namespace: 'default', uid: 'u1' }, spec: { containers: [{ name: 'main', image: 'busybox:1' }] }, status: { phase: 'Running', podIP: '127.0.0.1' } });

const ca = await generateCa();
const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
const nodeServing = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
const kubeletClient = await generateClientCert({ ca, commonName: 'system:hedge-apiserver-kubelet-client', organizations: ['system:masters'] });
const nodeServer = await startNodeServer({
  host: '127.0.0.1',
  port: 0,
  tls: { cert: nodeServing.cert, key: nodeServing.key, ca: ca.cert },
  auth: { clientCerts: true, authorization: 'AlwaysAllow' },
  pods: {
    pods: () => [podObj('p-direct'), podObj('p-tunnel')],
    locate: (ns, name, container) =>
      ns === 'default' && (name === 'p-direct' || name === 'p-tunnel') && (container ?? 'main') === 'main'
        ? { pod: podObj(name), handler: runtime, id: 'cid' as ContainerId, logDir: join(dir, 'c'), restartCount: 0 }
        : undefined,
  },
  logger: silentLogger(),
});
const t = await startTestServer({ tls: { cert: serving.cert, key: serving.key, clientCa: ca.cert }, kubeletClient: { cert: kubeletClient.cert, key: kubeletClient.key } });
const dead = createNetServer();
await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
const deadPort = (dead.address() as AddressInfo).port;
await new Promise<void>((r) => dead.close(() => r()));
const reg = t.server.registry;
const ctx = { user: { username: 'admin', groups: ['system:masters'] }, dryRun: false, signal: stop.signal };
await reg.create(reg.defFor('', 'nodes')!, nodeAt('direct', nodeServer.port) as never, ctx);
await reg.create(reg.defFor('', 'nodes')!, nodeAt('tunnelled', deadPort) as never, ctx);
for (const [pod, node] of [['p-direct', 'direct'], ['p-tunnel', 'tunnelled']]) {
  await reg.create(reg.defFor('', 'pods')!, { ...podOn(pod, node), status: { phase: 'Running', podIP: '127.0.0.1' } } as never, ctx);
}
const client = startTunnelClient({ server: t.url, nodeName: 'tunnelled', token: 'node-tunnelled', ca: ca.cert, connectLocal: () => connect(nodeServer.port, '127.0.0.1'), logger: silentLogger() }, stop.signal);
await client.waitConnected(AbortSignal.timeout(10_000));

function openExec(pod: string): Promise<WebSocket> {
  const url = `${t.url.replace(/^https/, 'wss')}/api/v1/namespaces/default/pods/${pod}/exec?command=cat&stdin=true&stdout=true`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['v5.channel.k8s.io'], { ca: ca.cert, headers: { Authorization: `Bearer ${testToken}` } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** one stdin → stdout echo on an open exec */
function roundTrip(ws: WebSocket, payload: string): Promise<number> {
  const start = performance.now();
  return new Promise((resolve) => {
    let got = '';
    const onMsg = (d: Buffer): void => {
      if (d[0] !== 1) return;
      got += d.subarray(1).toString();
      if (got.length >= payload.length) {
        ws.off('message', onMsg);
        resolve(performance.now() - start);
      }
    };
    ws.on('message', onMsg);
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(payload)]));
  });
}

async function execRtts(pod: string): Promise<number[]> {
  const ws = await openExec(pod);
  for (let i = 0; i < 20; i++) await roundTrip(ws, 'warm\n');
  const out: number[] = [];
  for (let i = 0; i < RTTS; i++) out.push(await roundTrip(ws, `line ${i}\n`));
  ws.close();
  return out;
}

async function wholeExecs(pod: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < EXECS; i++) {
    const start = performance.now();
    const ws = await openExec(pod);
    await roundTrip(ws, 'once\n');
    await new Promise<void>((r) => {
      ws.once('close', () => r());
      ws.send(Buffer.from([255, 0]));
    });
    out.push(performance.now() - start);
  }
  return out;
}

async function portForwardMiBs(pod: string): Promise<number[]> {
  if (!kubectlPath) return [];
  const kubeconfig = join(dir, 'kubeconfig');
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  await writeFile(kubeconfig, `apiVersion: v1\nkind: Config\nclusters:\n- name: h\n  cluster: {server: "${t.url}", certificate-authority-data: ${b64(ca.cert)}}\nusers:\n- name: a\n  user: {token: ${testToken}}\ncontexts:\n- name: h\n  context: {cluster: h, user: a, namespace: default}\ncurrent-context: h\n`);
  const pf = spawn(kubectlPath, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), 'port-forward', `pod/${pod}`, `:${podPort}`], { env: { PATH: process.env.PATH ?? '', HOME: dir } });
  try {
    const local = await new Promise<number>((resolve, reject) => {
      let out = '';
      pf.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      pf.once('exit', (c) => reject(new Error(`kubectl port-forward exited ${c}`)));
    });
    const out: number[] = [];
    for (let i = 0; i < DOWNLOADS; i++) {
      const start = performance.now();
      const bytes = await new Promise<number>((resolve, reject) => {
        get({ host: '127.0.0.1', port: local, path: '/', agent: false }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => resolve(n));
          res.on('error', reject);
        }).on('error', reject);
      });
      if (bytes !== blob.length) throw new Error(`short download: ${bytes}`);
      out.push(bytes / 1024 / 1024 / ((performance.now() - start) / 1000));
    }
    return out;
  } finally {
    pf.kill('SIGTERM');
  }
}

try {
  const rtt = { direct: summarize(await execRtts('p-direct')), tunnel: summarize(await execRtts('p-tunnel')) };
  const whole = { direct: summarize(await wholeExecs('p-direct')), tunnel: summarize(await wholeExecs('p-tunnel')) };
  const pfd = await portForwardMiBs('p-direct');
  const pft = await portForwardMiBs('p-tunnel');
  const med = (xs: number[]): number => summarize(xs).p50;
  const rows: (string | number)[][] = [
    ['measure', 'direct dial', 'tunnel', 'tunnel / direct'],
    [`exec stdin→stdout round trip, median ms (${RTTS})`, rtt.direct.p50.toFixed(3), rtt.tunnel.p50.toFixed(3), (rtt.tunnel.p50 / rtt.direct.p50).toFixed(2)],
    [`exec stdin→stdout round trip, p99 ms`, rtt.direct.p99.toFixed(3), rtt.tunnel.p99.toFixed(3), (rtt.tunnel.p99 / rtt.direct.p99).toFixed(2)],
    [`whole exec (open, echo, close), median ms (${EXECS})`, whole.direct.p50.toFixed(2), whole.tunnel.p50.toFixed(2), (whole.tunnel.p50 / whole.direct.p50).toFixed(2)],
  ];
  if (pfd.length && pft.length) {
    rows.push([`kubectl port-forward download ${MIB} MiB, median MiB/s (${DOWNLOADS})`, med(pfd).toFixed(1), med(pft).toFixed(1), (med(pft) / med(pfd)).toFixed(2)]);
  } else rows.push(['kubectl port-forward', 'no kubectl', '', '']);
  printTable('node tunnel vs direct dial (same node server, same run; apiserver and node on loopback)', rows);
} finally {
  stop.abort();
  await client.done;
  await t.close();
  await nodeServer.close();
  podHttp.close();
  await rm(dir, { recursive: true, force: true });
}
