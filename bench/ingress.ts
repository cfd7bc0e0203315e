/**
 * The node's ingress controller (src/agent/network/ingress): what routing through it costs against
 * asking the pod directly, in one run.
 *
 * A real `hedge server` + `hedge node` (edge-stack, runc) with one busybox httpd pod behind a
 * Service and an Ingress; this process drives HTTP GETs of a small file for `--seconds` with
 * `--concurrency` keep-alive clients, against (a) the pod IP:8080 and (b) the ingress's HTTP
 * listener on loopback (Host header routed by the Ingress), alternating for `--runs` rounds so
 * load drift hits both alike. busybox httpd closes every connection after one answer, so (a)
 * connects per request from here and (b) keeps its client connections open while the ingress
 * connects per request to the pod. The client, the node and the server share this machine.
 *
 * Prints a markdown table of medians over the rounds; asserts nothing.
 *
 *   node --import tsx bench/ingress.ts [--runs 3] [--seconds 5] [--concurrency 8]
 */
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startEdgeStack } from '../test/e2e/edge-stack.ts';
import { waitUntil } from '../test/e2e/pod-checks.ts';

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '8' },
  },
});
const RUNS = Number(argv.runs);
const SECONDS = Number(argv.seconds);
const CONCURRENCY = Number(argv.concurrency);
const HTTP_PORT = 24_000 + (process.pid % 4_000);

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function get(agent: Agent, host: string, port: number, hostHeader: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = request({ host, port, path: '/index.html', headers: { host: hostHeader }, agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function load(host: string, port: number, hostHeader: string): Promise<Result> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies: number[] = [];
  let errors = 0;
  const end = Date.now() + SECONDS * 1000;
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      try {
        latencies.push(await get(agent, host, port, hostHeader));
      } catch {
        errors++;
      }
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (Date.now() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { rps: latencies.length / elapsed, p50: pct(50), p99: pct(99), errors };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const stack = await startEdgeStack({
    nodes: [{ name: `bench-ing-${process.pid}`, runtimes: ['runc'], extraArgs: ['--ingress-http-port', String(HTTP_PORT), '--ingress-https-port', '0', '--ingress-bind-address', '127.0.0.1'] }],
  });
  try {
    const kubectl = async (args: string[], input?: string): Promise<string> => {
      const r = await stack.server.kubectl(args, { input });
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const objects = [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', labels: { app: 'web' } },
        spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 1, containers: [{ name: 'web', image: stack.httpdImage, command: ['sh', '-c', 'mkdir -p /tmp/w && echo hello > /tmp/w/index.html && exec httpd -f -p 8080 -h /tmp/w'], ports: [{ name: 'http', containerPort: 8080 }] }] },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } },
      { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web' }, spec: { rules: [{ host: 'bench.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] } },
    ];
    for (const o of objects) await kubectl(['apply', '-f', '-'], JSON.stringify(o));
    const podIP = await waitUntil('pod IP', 120_000, async () => (await kubectl(['get', 'pod', 'web', '-o', 'jsonpath={.status.podIP}'])).trim() || undefined, stack.explain);
    await waitUntil('routed', 60_000, async () => (await get(new Agent(), '127.0.0.1', HTTP_PORT, 'bench.example').catch(() => undefined)) !== undefined || undefined, stack.explain);
    const direct: Result[] = [];
    const ingress: Result[] = [];
    // warm-up of both paths
    await load(podIP, 8080, podIP);
    await load('127.0.0.1', HTTP_PORT, 'bench.example');
    for (let i = 0; i < RUNS; i++) {
      direct.push(await load(podIP, 8080, podIP));
      ingress.push(await load('127.0.0.1', HTTP_PORT, 'bench.example'));
    }
    const row = (name: string, rs: Result[]): string =>
      `| ${name} | ${median(rs.map((r) => r.rps)).toFixed(0)} | ${median(rs.map((r) => r.p50)).toFixed(2)} | ${median(rs.map((r) => r.p99)).toFixed(2)} | ${rs.reduce((a, r) => a + r.errors, 0)} |`;
    console.log(`\ningress vs pod IP: busybox httpd, GET of 6 bytes, ${CONCURRENCY} keep-alive clients, ${SECONDS} s × ${RUNS} rounds (medians), load ${loadavg()[0]!.toFixed(2)}\n`);
    console.log('| path | requests/s | p50 ms | p99 ms | errors |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    console.log(row('pod IP (direct)', direct));
    console.log(row('ingress (Host routed)', ingress));
    const overhead = median(ingress.map((r) => r.p50)) - median(direct.map((r) => r.p50));
    console.log(`\nthroughput through the ingress: ${((median(ingress.map((r) => r.rps)) / median(direct.map((r) => r.rps))) * 100).toFixed(0)} % of direct; p50 added: ${overhead.toFixed(2)} ms`);
  } finally {
    await stack.close();
  }
}

await main();
