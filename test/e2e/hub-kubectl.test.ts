/**
 * The real kubectl against a real `hedge node`'s edgehub (`<data-dir>/hub/kubeconfig`): logs
 * (-f, --tail, --timestamps, --previous, -c), exec (-i), attach -i and port-forward of the
 * node's own runc pods are served on the node, online and with the cloud link cut (a TCP relay
 * standing in for it, as the node's apiserver URL); a pod bound to another node is a NotFound.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { TcpLink } from '../../src/edgehub/testing/tcp-link.ts';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl, readLines, type HedgeServer } from './harness.ts';
import { edgeNodeSkipReason, type HedgeNode } from './node-harness.ts';
import { waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

describe("kubectl through the node's edgehub: logs, exec, attach and port-forward of its pods, online and cut off", { skip, timeout: 240_000 }, () => {
  let stack: EdgeStack | undefined;
  let server: HedgeServer;
  let node: HedgeNode;
  let link: TcpLink | undefined;
  let hubKubeconfig = '';
  const nodeName = `hubx-${process.pid}`;
  const explain = (): string => stack?.explain() ?? '';

  /** kubectl as a local operator on the node: the hub's kubeconfig */
  const local = (args: string[], input?: string) => server.kubectl(['--kubeconfig', hubKubeconfig, '--request-timeout=20s', ...args], { input });
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await local(args, input);
    assert.equal(r.code, 0, `kubectl (hub) ${args.join(' ')}: ${r.stderr}\n${explain()}`);
    return r.stdout;
  };
  const getPod = async (name: string): Promise<Pod | undefined> => {
    const r = await server.api('GET', `/api/v1/namespaces/default/pods/${name}`);
    return r.status === 200 ? (r.body as Pod) : undefined;
  };

  before(async () => {
    stack = await startEdgeStack({ nodes: [] });
    server = stack.server;
    const u = new URL(server.url);
    link = await TcpLink.open({ host: u.hostname, port: Number(u.port) });
    node = await stack.addNode({ name: nodeName, serverUrl: `https://127.0.0.1:${link.port}`, runtimes: ['runc'] });
    hubKubeconfig = join(node.dataDir, 'hub', 'kubeconfig');
    const pods = [
      {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' },
        spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 2, containers: [
          { name: 'web', image: stack.httpdImage, command: ['sh', '-c', 'echo serving on 8080; exec httpd -f -p 8080 -h /www'], ports: [{ containerPort: 8080 }], readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } },
          { name: 'side', image: stack.busyboxImage, command: ['sh', '-c', 'echo side one; echo side two; exec sleep 3600'] },
        ] },
      },
      {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reader' },
        spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 1, containers: [{ name: 'r', image: stack.busyboxImage, stdin: true, command: ['sh', '-c', 'while read l; do echo "got $l"; done'] }] },
      },
      // bound to a node that is not this one: the hub does not hold it and serves nothing of it
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'far' }, spec: { nodeName: 'elsewhere', containers: [{ name: 'c', image: stack.busyboxImage }] } },
    ];
    for (const p of pods) {
      const r = await server.kubectl(['apply', '-f', '-'], { input: JSON.stringify(p) });
      assert.equal(r.code, 0, r.stderr);
    }
    for (const name of ['web', 'reader']) {
      await waitUntil(`${name} Running and ready`, 60_000, async () => {
        const p = await getPod(name);
        return p?.status?.phase === 'Running' && p.status.containerStatuses?.every((c) => c.ready) ? true : undefined;
      }, explain);
    }
  });

  after(async () => {
    // the link back first: deleting the pods needs the node to hear of it
    link?.restore();
    await stack?.close();
    await link?.close();
  });

  const logsExecAttachForward = async (): Promise<void> => {
    assert.match(await ok(['logs', 'web', '-c', 'web']), /serving on 8080/);
    assert.equal(await ok(['logs', 'web', '-c', 'side', '--tail=1']), 'side two\n');
    assert.match(await ok(['logs', 'web', '-c', 'side', '--timestamps', '--since=1h']), /^\d{4}-\d\d-\d\dT\S+ side one\n/);
    const follow = server.spawnKubectl(['--kubeconfig', hubKubeconfig, 'logs', '-f', 'web', '-c', 'side']);
    try {
      await readLines(follow).waitFor((l) => l.includes('side two'), 20_000);
    } finally {
      follow.kill('SIGKILL');
    }
    assert.equal((await ok(['exec', 'web', '-c', 'side', '--', 'echo', 'hi'])).trim(), 'hi');
    assert.equal(await ok(['exec', '-i', 'web', '-c', 'side', '--', 'cat'], 'through stdin\n'), 'through stdin\n');
    // attach -i to the container's own stdin
    const attach = spawn(findKubectl()!, ['--kubeconfig', hubKubeconfig, 'attach', '-i', 'reader'], { stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      const lines = readLines(attach);
      const word = `w${Date.now()}`;
      attach.stdin.write(`${word}\n`);
      await lines.waitFor((l) => l.includes(`got ${word}`), 20_000);
    } finally {
      attach.kill('SIGKILL');
    }
    // port-forward (kubectl offers WebSocket, falls back to SPDY)
    const pf = server.spawnKubectl(['--kubeconfig', hubKubeconfig, 'port-forward', 'pod/web', ':8080']);
    try {
      const lines = await readLines(pf).waitFor((l) => /Forwarding from 127\.0\.0\.1:\d+/.test(l), 20_000);
      const port = Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(lines.join('\n'))![1]);
      const page = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(10_000) });
      assert.match(await page.text(), /hello from hedge/);
    } finally {
      pf.kill('SIGKILL');
    }
  };

  it("the agent is the hub's client on its root-only unix socket, not on the HTTPS port", async () => {
    const sock = join(node.dataDir, 'hub', 'hub.sock');
    assert.equal((await stat(sock)).mode & 0o777, 0o600);
    assert.equal((await stat(join(node.dataDir, 'hub'))).mode & 0o777, 0o700);
    // the listener and the connections it accepted are bound to the path: the agent's informer watches
    const unix = (await readFile(`/proc/${node.pid()}/net/unix`, 'utf8')).split('\n').filter((l) => l.endsWith(` ${sock}`));
    assert.ok(unix.length >= 2, `connections on ${sock}: ${unix.length - 1}`);
    // and nobody is connected to the HTTPS port (kubectl is not running): no TLS connection of the agent's
    const port = Number(new URL(/server: (\S+)/.exec(await readFile(hubKubeconfig, 'utf8'))![1]!).port).toString(16).toUpperCase().padStart(4, '0');
    const tcp = (await readFile(`/proc/${node.pid()}/net/tcp`, 'utf8')).split('\n').slice(1).map((l) => l.trim().split(/\s+/));
    const onHub = tcp.filter((f) => f[3] === '01' && (f[1]?.endsWith(`:${port}`) || f[2]?.endsWith(`:${port}`)));
    assert.equal(onHub.length, 0, `established connections on the hub's port: ${onHub.length}`);
  });

  it('online: served on the node through the hub kubeconfig', async () => {
    await logsExecAttachForward();
  });

  it('a pod bound to another node is a NotFound, at once', async () => {
    const r = await local(['logs', 'far']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /NotFound.*pods "far" not found/);
    const raw = await local(['get', '--raw', '/api/v1/namespaces/default/pods/far/log']);
    assert.match(raw.stderr, /pods "far" not found on node/);
  });

  it('with the cloud link cut: still served on the node', async () => {
    link!.cut();
    // the hub has noticed once what only the cloud serves is refused
    await waitUntil('the hub offline', 20_000, async () => {
      const r = await local(['get', 'configmaps', '-n', 'default']);
      return r.code !== 0 && /unreachable/.test(r.stderr) ? true : undefined;
    }, explain);
    await logsExecAttachForward();
  });
});
