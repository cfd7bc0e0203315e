/**
 * The node's /stats/summary and /metrics/cadvisor with real runtimes (runc, gVisor): a real
 * `hedge server` + `hedge node`, pods serving HTTP, and the node server asked over TLS with a
 * client certificate from the cluster CA (as the apiserver's kubelet client presents one).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { etcHostsPath } from '../../src/agent/stats/pod-storage.ts';
import type { Summary } from '../../src/agent/stats/summary.ts';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl } from './harness.ts';
import { edgeNodeSkipReason, nodeServerGet } from './node-harness.ts';
import { fetchText, waitUntil } from './pod-checks.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');

describe('node stats: /stats/summary and /metrics/cadvisor on a real node', { skip, timeout: 240_000 }, () => {
  let stack: EdgeStack | undefined;
  const nodeName = `stats-${process.pid}`;
  let nodeGet: (path: string) => Promise<{ status: number; body: string }>;

  before(async () => {
    stack = await startEdgeStack({ nodes: [{ name: nodeName }] });
    const s = stack;
    const pki = join(s.server.dataDir, 'pki');
    const [cert, key] = await Promise.all(['admin.crt', 'admin.key'].map((f) => readFile(join(pki, f), 'utf8')));
    // the node's serving certificate is from a throwaway CA (kube-apiserver does not verify kubelets by default): pin it
    const pinned = new X509Certificate(await readFile(join(s.node.dataDir, 'pki', 'node-server.crt'))).fingerprint256;
    const node = (await s.server.api('GET', `/api/v1/nodes/${nodeName}`)).body as Node;
    const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
    assert.ok(port, 'the node advertises its server port');
    nodeGet = (path) => nodeServerGet({ port, path, cert, key, pinned });
  });
  after(() => stack?.close());

  it('reports per-container CPU and memory and the pod network, for runc and gVisor', async () => {
    const s = stack!;
    const pod = (name: string, runtimeClassName: string): string =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: {
          runtimeClassName,
          terminationGracePeriodSeconds: 2,
          containers: [{ name: 'web', image: s.httpdImage, command: ['sh', '-c', 'exec httpd -f -p 8080 -h /www'], readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } }],
        },
      });
    for (const [name, rc] of [['st-runc', 'runc'], ['st-gvisor', 'gvisor']]) {
      const r = await s.server.kubectl(['apply', '-f', '-'], { input: pod(name, rc) });
      assert.equal(r.code, 0, r.stderr);
    }
    const ips = new Map<string, string>();
    for (const name of ['st-runc', 'st-gvisor']) {
      const p = await waitUntil(`${name} ready`, 90_000, async () => {
        const got = (await s.server.api('GET', `/api/v1/namespaces/default/pods/${name}`)).body as Pod;
        return got.status?.containerStatuses?.[0]?.ready && got.status.podIP ? got : undefined;
      }, s.explain);
      ips.set(name, p.status!.podIP!);
      // traffic the pod's netns counts
      assert.match(await fetchText(p.status!.podIP!, { port: 8080 }), /hello from hedge/);
    }

    const summary = await waitUntil('both pods in /stats/summary with a CPU rate', 30_000, async () => {
      const r = await nodeGet('/stats/summary');
      assert.equal(r.status, 200, r.body);
      const sum = JSON.parse(r.body) as Summary;
      const mine = sum.pods.filter((p) => p.podRef.name.startsWith('st-'));
      return mine.length === 2 && mine.every((p) => p.containers[0]?.cpu.usageNanoCores !== undefined && p.network !== undefined) ? sum : undefined;
    }, s.explain);
    assert.equal(summary.node.nodeName, nodeName);
    assert.ok((summary.node.cpu?.usageCoreNanoSeconds ?? 0) > 0);
    assert.ok((summary.node.memory?.workingSetBytes ?? 0) > 0);
    assert.ok((summary.node.fs?.capacityBytes ?? 0) > 0);
    assert.ok((summary.node.rlimit?.maxpid ?? 0) > 0 && (summary.node.rlimit?.curproc ?? 0) > 0, JSON.stringify(summary.node.rlimit));
    for (const p of summary.pods.filter((x) => x.podRef.name.startsWith('st-'))) {
      const what = `${p.podRef.name}: ${JSON.stringify(p)}`;
      assert.equal(p.podRef.namespace, 'default');
      assert.ok(p.podRef.uid);
      assert.equal(p.containers[0].name, 'web', what);
      assert.ok(p.containers[0].startTime, what);
      assert.ok(p.containers[0].cpu.usageCoreNanoSeconds > 0, what);
      assert.ok(p.containers[0].memory.workingSetBytes > 0, what);
      assert.ok((p.network?.rxBytes ?? 0) > 0, `the pod's netns saw the HTTP request: ${what}`);
      assert.ok((p.network?.txBytes ?? 0) > 0, what);
    }
    // local storage (the walk shared with the eviction manager): the runc container's writable layer
    // (overlay upperdir) and log files and the pod's hosts file (upstream's etc-hosts), summed as the
    // pod's ephemeral-storage on the node filesystem; a service account token's projected volume is
    // listed in `volume` but not counted (upstream backs it with tmpfs)
    const runc = summary.pods.find((x) => x.podRef.name === 'st-runc')!;
    const { rootfs, logs } = runc.containers[0];
    const eph = runc['ephemeral-storage'];
    assert.ok(rootfs && logs && eph, JSON.stringify(runc));
    assert.ok(rootfs.inodesUsed >= 1 && logs.usedBytes > 0, JSON.stringify(runc.containers[0]));
    const hosts = await stat(etcHostsPath(s.node.dataDir, runc.podRef.uid));
    assert.deepEqual([eph.usedBytes, eph.inodesUsed], [rootfs.usedBytes + logs.usedBytes + hosts.blocks * 512, rootfs.inodesUsed + logs.inodesUsed + 1], JSON.stringify(runc));
    assert.equal(eph.capacityBytes, summary.node.fs?.capacityBytes);

    // a handler call that fails during a scrape (runsc state under load) leaves that container out
    // of that one scrape, so poll until one scrape has every series; the last body explains a timeout
    let last = '';
    const series = (name: string): RegExp[] => [
      new RegExp(`^container_cpu_usage_seconds_total\\{[^}]*container="web"[^}]*namespace="default",pod="${name}"[^}]*\\} [0-9.e+-]+$`, 'm'),
      new RegExp(`^container_memory_working_set_bytes\\{[^}]*container="web"[^}]*pod="${name}"\\} [1-9]`, 'm'),
      new RegExp(`^container_network_receive_bytes_total\\{[^}]*pod="${name}",interface="eth0"\\} [1-9]`, 'm'),
    ];
    await waitUntil('every series in /metrics/cadvisor', 20_000, async () => {
      const metrics = await nodeGet('/metrics/cadvisor');
      assert.equal(metrics.status, 200, metrics.body);
      last = metrics.body;
      return ['st-runc', 'st-gvisor'].every((n) => series(n).every((re) => re.test(last))) ? true : undefined;
    }, () => `last scrape:\n${last}\n${s.explain()}`);

    // what Prometheus' kubernetes_sd node role + proxy scrape and metrics consumers use: nodes/proxy through the apiserver
    const viaApi = await s.server.kubectl(['get', '--raw', `/api/v1/nodes/${nodeName}/proxy/stats/summary`]);
    assert.equal(viaApi.code, 0, viaApi.stderr);
    const proxied = JSON.parse(viaApi.stdout) as Summary;
    assert.equal(proxied.node.nodeName, nodeName);
    assert.deepEqual(proxied.pods.map((p) => p.podRef.name).filter((n) => n.startsWith('st-')).sort(), ['st-gvisor', 'st-runc']);
    const promViaApi = await s.server.kubectl(['get', '--raw', `/api/v1/nodes/${nodeName}/proxy/metrics/cadvisor`]);
    assert.equal(promViaApi.code, 0, promViaApi.stderr);
    assert.match(promViaApi.stdout, /^container_cpu_usage_seconds_total\{[^}]*container="web"/m);
  });
});
