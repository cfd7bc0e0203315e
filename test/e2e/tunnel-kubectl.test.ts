/**
 * The real kubectl through the real apiserver to a node reachable only through its tunnel: the
 * Node advertises a port where nothing listens, the node server is the agent's own (logs, exec
 * with stdin, attach, port-forward over SPDY), runtimes are the in-memory fake (the pod's port
 * is a local HTTP server). test/e2e/tunnel-node.test.ts does the same with real pods.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { FakeRuntime, startFakeContainer } from '../../src/agent/runtime/testing/fake-runtime.ts';
import type { ContainerId } from '../../src/agent/runtime/types.ts';
import { startNodeServer, type NodeServer } from '../../src/agent/server/node-server.ts';
import type { PodSource } from '../../src/agent/server/types.ts';
import { generateCa, generateServingCert } from '../../src/apiserver/auth/pki.ts';
import { nodeAt, podOn } from '../../src/apiserver/testing/fake-kubelet.ts';
import { startTestServer, testToken, type TestServer } from '../../src/apiserver/testing/test-server.ts';
import { startTunnelClient, type TunnelClient } from '../../src/edgehub/tunnel/index.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { findKubectl, run } from './harness.ts';

const kubectlPath = findKubectl();

async function closedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** resolves with everything read once `want` appears on stdout */
function waitOutput(child: ChildProcessWithoutNullStreams, want: RegExp, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stdout=${out} stderr=${err}`)), 20_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (want.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kubectl exited (${code}) before ${what}; stdout=${out} stderr=${err}`));
    });
  });
}

describe('kubectl logs -f, exec -i, attach and port-forward through the node tunnel', { skip: kubectlPath ? false : 'no kubectl' }, () => {
  let dir: string;
  let t: TestServer;
  let nodeServer: NodeServer;
  let podHttp: Server;
  let client: TunnelClient;
  let kubeconfig: string;
  const children: ChildProcessWithoutNullStreams[] = [];
  const stop = new AbortController();
  const runtime = new FakeRuntime();
  const logFile = (): string => join(dir, 'c', '0.log');
  const args = (extra: string[]): string[] => ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...extra];
  const env = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH ?? '', HOME: dir });
  const kubectl = (extra: string[], input?: string): ReturnType<typeof run> =>
    run(kubectlPath as string, args(extra), { input, env: env(), timeoutMs: 30_000 });
  const spawnKubectl = (extra: string[], extraEnv: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams => {
    const c = spawn(kubectlPath as string, args(extra), { env: { ...env(), ...extraEnv } });
    children.push(c);
    return c;
  };
  const appendLog = (line: string, stream = 'stdout'): Promise<void> => appendFile(logFile(), `${new Date().toISOString()} ${stream} F ${line}\n`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-tunnel-kubectl-'));
    await mkdir(join(dir, 'c'), { recursive: true });
    await writeFile(logFile(), '');
    await appendLog('first line');
    // the pod's port: a local HTTP server (the node connects to the pod IP, here 127.0.0.1)
    podHttp = createServer((req, res) => {
      // like busybox httpd: one answer, then the connection is closed
      res.setHeader('Connection', 'close');
      res.end(`hello from the pod, ${req.url}\n`);
    });
    await new Promise<void>((r) => podHttp.listen(0, '127.0.0.1', r));
    const podPort = (podHttp.address() as AddressInfo).port;

    await startFakeContainer(runtime, { pod: { uid: 'u1', namespace: 'default', name: 'web' }, name: 'main', stateDir: dir, logPath: logFile() });
    runtime.execResult = async (_cfg, req) => {
      // `cat`: stdin back on stdout until the client closes stdin
      for await (const chunk of req.stdin as AsyncIterable<Buffer>) req.stdout?.write(chunk);
      return 0;
    };
    const pod: Pod = { metadata: { name: 'web', namespace: 'default', uid: 'u1' }, spec: { containers: [{ name: 'main', image: 'busybox:1', ports: [{ containerPort: podPort }] }] }, status: { phase: 'Running', podIP: '127.0.0.1' } };
    const pods: PodSource = {
      pods: () => [pod],
      locate: (ns, name, container) =>
        ns === 'default' && name === 'web' && (container ?? 'main') === 'main'
          ? { pod, handler: runtime, id: 'cid' as ContainerId, logDir: join(dir, 'c'), restartCount: 0 }
          : undefined,
    };
    nodeServer = await startNodeServer({ host: '127.0.0.1', port: 0, auth: { clientCerts: false, anonymous: true, authorization: 'AlwaysAllow' }, pods, logger: silentLogger() });

    const ca = await generateCa();
    const serving = await generateServingCert({ ca, hosts: ['127.0.0.1'] });
    t = await startTestServer({ tls: { cert: serving.cert, key: serving.key, clientCa: ca.cert }, kubeletClient: { scheme: 'http' } });
    const reg = t.server.registry;
    const ctx = { user: { username: 'admin', groups: ['system:masters'] }, dryRun: false, signal: stop.signal };
    // the advertised port answers nothing: direct dialing fails, only the tunnel works
    await reg.create(reg.defFor('', 'nodes')!, nodeAt('edge-1', await closedPort()) as never, ctx);
    await reg.create(reg.defFor('', 'pods')!, { ...podOn('web', 'edge-1'), status: { phase: 'Running', podIP: '127.0.0.1' } } as never, ctx);

    kubeconfig = join(dir, 'kubeconfig');
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    await writeFile(kubeconfig, `apiVersion: v1
kind: Config
clusters:
- name: hedge
  cluster: {server: "${t.url}", certificate-authority-data: ${b64(ca.cert)}}
users:
- name: admin
  user: {token: ${testToken}}
contexts:
- name: hedge
  context: {cluster: hedge, user: admin, namespace: default}
current-context: hedge
`);
    client = startTunnelClient(
      { server: t.url, nodeName: 'edge-1', token: 'node-edge-1', ca: ca.cert, connectLocal: () => connect(nodeServer.port, '127.0.0.1'), logger: silentLogger(), backoff: { initialMs: 20, maxMs: 200 } },
      stop.signal,
    );
    await client.waitConnected(AbortSignal.timeout(10_000));
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    stop.abort();
    await client?.done;
    await t?.close();
    await nodeServer?.close();
    podHttp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('kubectl logs -f follows new lines', async () => {
    const c = spawnKubectl(['logs', '-f', 'web']);
    await waitOutput(c, /first line\n/, 'the existing line');
    const more = waitOutput(c, /followed line\n/, 'the appended line');
    await appendLog('followed line');
    await more;
    c.kill('SIGTERM');
  });

  it('kubectl exec -i carries stdin and stdout', async () => {
    const r = await kubectl(['exec', '-i', 'web', '--', 'cat'], 'typed into exec\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'typed into exec\n');
  });

  it('kubectl attach streams what the container writes from now on', async () => {
    const c = spawnKubectl(['attach', 'web', '-c', 'main']);
    const got = waitOutput(c, /attached line\n/, 'the attached line');
    // attach starts at the end of the log: write until the attach has seen a line
    const timer = setInterval(() => void appendLog('attached line'), 200);
    try {
      const out = await got;
      assert.doesNotMatch(out, /first line/);
    } finally {
      clearInterval(timer);
      c.kill('SIGTERM');
    }
  });

  // kubectl 1.31+ tries SPDY inside WebSocket first; with the gate off it speaks SPDY directly
  for (const websockets of ['true', 'false']) it(`kubectl port-forward forwards HTTP to the pod port (KUBECTL_PORT_FORWARD_WEBSOCKETS=${websockets})`, async () => {
    const podPort = (podHttp.address() as AddressInfo).port;
    const c = spawnKubectl(['port-forward', 'pod/web', `:${podPort}`], { KUBECTL_PORT_FORWARD_WEBSOCKETS: websockets });
    const out = await waitOutput(c, /Forwarding from 127\.0\.0\.1:(\d+)/, 'the local port');
    const local = Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
    for (const path of Array.from({ length: 30 }, (_, i) => `/n${i}`)) {
      const res = await fetch(`http://127.0.0.1:${local}${path}`);
      assert.equal(await res.text(), `hello from the pod, ${path}\n`);
    }
    // 5 connections at once share the forward (each is its own stream pair)
    const many = await Promise.all([1, 2, 3, 4, 5].map(async (i) => (await fetch(`http://127.0.0.1:${local}/p${i}`)).text()));
    assert.deepEqual(many, [1, 2, 3, 4, 5].map((i) => `hello from the pod, /p${i}\n`));
    c.kill('SIGTERM');
  });
});
