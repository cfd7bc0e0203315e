/**
 * `kubectl logs/exec/port-forward` through the hub's kubeconfig reach this node's own server on
 * loopback (the replica apiserver's pod-log/pod-exec handlers with localNodeDialer), as the
 * edgehub's local identity, online and with the cloud cut off; other nodes' pods are refused.
 * The node server is the real one (TLS, webhook authorization) over a fake runtime.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { generateCa, generateServingCert } from '../apiserver/auth/pki.ts';
import { Resources } from '../client/resources.ts';
import { silentLogger } from '../lib/log.ts';
import { FakeAccessReviews } from '../agent/server/auth/testing/fake-access-reviews.ts';
import { startNodeServer, type NodeServer } from '../agent/server/node-server.ts';
import type { PodSource } from '../agent/server/types.ts';
import { FakeRuntime, startFakeContainer } from '../agent/runtime/testing/fake-runtime.ts';
import type { ContainerId } from '../agent/runtime/types.ts';
import type { LocalNodeServer } from './local-node.ts';
import { nodePod, startHubRig, until, type HubRig } from './testing/hub-rig.ts';

const NODE = 'edge-streams';
const kubectlPath = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));

describe('edgehub serves logs, exec and port-forward of its own pods on the node', { skip: kubectlPath ? false : 'kubectl not installed' }, () => {
  let dir: string;
  let rig: HubRig;
  let srv: NodeServer;
  let echo: Server;
  let local: LocalNodeServer | undefined;
  const reviews = new FakeAccessReviews();
  const runtime = new FakeRuntime();

  const args = (extra: string[]): string[] => ['--kubeconfig', rig.hub.kubeconfigPath, '--cache-dir', join(dir, 'cache'), '--request-timeout=10s', ...extra];
  const env = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH ?? '', HOME: dir });
  const kubectl = (extra: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile(kubectlPath!, args(extra), { timeout: 20_000, env: env() }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }));
      if (input !== undefined) child.stdin?.end(input);
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgehub-streams-'));
    await mkdir(join(dir, 'logs'));
    await writeFile(join(dir, 'logs', '0.log'), '2026-01-01T00:00:00.000000001Z stdout F before the restart\n');
    await writeFile(join(dir, 'logs', '1.log'), ['2026-01-01T00:00:01.000000000Z stdout F one', '2026-01-01T00:00:02.000000000Z stdout F two', ''].join('\n'));
    await startFakeContainer(runtime, { pod: { uid: 'u1', namespace: 'default', name: 'web' }, name: 'c', stateDir: dir, logPath: join(dir, 'logs', '1.log') });
    runtime.execResult = async (_cfg, req) => {
      if (req.command[0] === 'cat') {
        for await (const chunk of req.stdin as AsyncIterable<Buffer>) req.stdout?.write(chunk);
        return 0;
      }
      req.stdout?.write(Buffer.from(`ran ${req.command.join(' ')}\n`));
      return 0;
    };
    // the pod's "port 8080": an echo server on loopback (the pod's IP below)
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const pod: Pod = { metadata: { name: 'web', namespace: 'default', uid: 'u1' }, spec: { nodeName: NODE, containers: [{ name: 'c', image: 'busybox' }] }, status: { podIP: '127.0.0.1' } };
    const pods: PodSource = {
      pods: () => [pod],
      locate: (ns, name, container) => (ns === 'default' && name === 'web' && (container ?? 'c') === 'c' ? { pod, handler: runtime, id: 'cid' as ContainerId, logDir: join(dir, 'logs'), restartCount: 1 } : undefined),
    };
    const servingCa = await generateCa('node-serving-ca');
    const serving = await generateServingCert({ ca: servingCa, hosts: ['127.0.0.1'] });
    const clusterCa = await generateCa('cluster-ca');
    srv = await startNodeServer({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: serving.cert, key: serving.key, ca: clusterCa.cert },
      // as `hedge node` runs it: webhook authorization, and the hub's local token
      auth: { clientCerts: true, authorization: 'Webhook', localToken: 'hub-local-token' },
      nodeName: NODE,
      reviews,
      pods,
      logger: silentLogger(),
    });
    local = { host: '127.0.0.1', port: srv.port, cert: serving.cert, token: 'hub-local-token' };
    rig = await startHubRig({
      nodeName: NODE,
      dir,
      seed: async (a) => {
        await a.create(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'elsewhere' } });
        const web = await a.create(Resources.pods, nodePod(NODE, 'web', { containers: [{ name: 'c', image: 'busybox' }] }));
        // kubectl port-forward checks the phase itself
        await a.updateStatus(Resources.pods, { ...web, status: { phase: 'Running', podIP: '127.0.0.1' } });
        await a.create(Resources.pods, nodePod('elsewhere', 'far'));
      },
      hub: { nodeServer: () => local, healthIntervalMs: 100, healthTimeoutMs: 500 },
    });
    await until("the node's running pod replicated", async () => ((await rig.hub.replica.get(Resources.pods, 'default', 'web')) as Pod | undefined)?.status?.phase === 'Running');
  });

  after(async () => {
    await rig?.close();
    await srv?.close();
    await new Promise<void>((r) => echo.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  const logsAndExec = async (): Promise<void> => {
    const logs = await kubectl(['logs', 'web']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'one\ntwo\n');
    assert.equal((await kubectl(['logs', 'web', '--tail=1', '--timestamps', '-c', 'c'])).stdout, '2026-01-01T00:00:02.000000000Z two\n');
    assert.equal((await kubectl(['logs', 'web', '--previous'])).stdout, 'before the restart\n');
    const ex = await kubectl(['exec', 'web', '--', 'echo', 'hi']);
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal(ex.stdout, 'ran echo hi\n');
    const cat = await kubectl(['exec', '-i', 'web', '--', 'cat'], 'through stdin\n');
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'through stdin\n');
  };

  it('online: logs (tail, timestamps, previous, -c) and exec (-i) are served by this node, no review asked of the cloud', async () => {
    await logsAndExec();
    assert.equal(reviews.tokenReviews + reviews.accessReviews, 0);
  });

  it('logs -f streams until the client goes', async () => {
    const child = spawn(kubectlPath!, args(['logs', '-f', 'web']), { env: env() });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('two\n')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`kubectl logs -f exited (${code}): ${out}`)));
    });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    assert.equal(out, 'one\ntwo\n');
  });

  /** kubectl port-forward to the pod's echo port, one round trip through it */
  const portForwardPing = async (): Promise<void> => {
    const port = (echo.address() as { port: number }).port;
    const child = spawn(kubectlPath!, args(['port-forward', 'pod/web', `:${port}`]), { env: env() });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const localPort = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.on('exit', (code) => reject(new Error(`kubectl port-forward exited (${code}): ${out} ${stderr}`)));
      });
      const answer = await new Promise<string>((resolve, reject) => {
        const s = connect(localPort, '127.0.0.1', () => s.write('ping'));
        s.on('data', (d: Buffer) => {
          resolve(d.toString());
          s.destroy();
        });
        s.on('error', reject);
      });
      assert.equal(answer, 'ping');
    } finally {
      child.kill('SIGTERM');
    }
  };

  it('port-forward (SPDY) reaches the pod port', portForwardPing);

  it('a pod of another node is a NotFound, never a hang: kubectl\'s own read of it, and the log subresource naming this node', async () => {
    for (const cmd of [['logs', 'far'], ['exec', 'far', '--', 'true']]) {
      const r = await kubectl(cmd);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /NotFound.*pods "far" not found/, cmd.join(' '));
    }
    const raw = await kubectl(['get', '--raw', '/api/v1/namespaces/default/pods/far/log']);
    assert.notEqual(raw.code, 0);
    assert.match(raw.stderr, /pods "far" not found on node "edge-streams" \(the edge hub serves logs, exec, attach and port-forward for this node's pods only\)/);
  });

  it('offline (cloud cut off): logs, exec and port-forward still work', async () => {
    rig.link.cut();
    await rig.hub.waitFor('offline');
    try {
      await logsAndExec();
      await portForwardPing();
    } finally {
      rig.link.restore();
      await rig.hub.waitFor('online');
    }
  });

  it("without the node's server up: a 503 Status, not a hang", async () => {
    const saved = local;
    local = undefined;
    try {
      const r = await kubectl(['logs', 'web']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /the server of node "edge-streams" is not running/);
    } finally {
      local = saved;
    }
  });
});
