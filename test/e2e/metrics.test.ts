/**
 * metrics.k8s.io and `kubectl top` on a real node with real runc pods: a busybox loop burning CPU
 * and awk holding a 48 MiB string, checked against the pod cgroups' own counters (cpuacct.usage over
 * the API's window, memory usage minus inactive file). Last, a real Prometheus (Debian's, which has
 * no kubernetes_sd) discovers the node over http_sd from the apiserver and scrapes the node's
 * cAdvisor metrics through `nodes/{name}/proxy/metrics/cadvisor` with a least-privilege service
 * account's bearer token; the series are queried back over its HTTP API, and once the node is
 * stopped they go stale.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { findKubectl } from './harness.ts';
import { edgeNodeSkipReason } from './node-harness.ts';
import type { Summary } from '../../src/agent/stats/summary.ts';
import { fetchText, waitUntil } from './pod-checks.ts';
import { run } from './harness.ts';

const NEEDED = ['/usr/sbin/runc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/bin/busybox', '/usr/bin/nsenter'];
const skip = edgeNodeSkipReason(NEEDED) ?? (findKubectl() ? undefined : 'no kubectl (run scripts/setup.sh)');
const PROMETHEUS = '/usr/bin/prometheus';
const RESOLUTION_S = 6;
const CG = '/sys/fs/cgroup';

interface PodMetrics {
  metadata: { name: string };
  timestamp: string;
  window: string;
  containers: { name: string; usage: { cpu: string; memory: string } }[];
}

/** "250m" / "1234567n" / "1" cores → nanocores */
function cpuNano(q: string): number {
  const m = /^(\d+)(n|u|m)?$/.exec(q);
  assert.ok(m, `cpu quantity ${q}`);
  const scale = { n: 1, u: 1e3, m: 1e6, '': 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * scale;
}
function bytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(q);
  assert.ok(m, `memory quantity ${q}`);
  return Number(m[1]) * ({ Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, '': 1 }[m[2] ?? ''] ?? 1);
}
/** Go duration as metav1.Duration prints it: 6s, 6.003s, 1m2s */
function durationMs(d: string): number {
  const ms = /^(\d+)ms$/.exec(d);
  if (ms) return Number(ms[1]);
  const m = /^(?:(\d+)m)?(?:([\d.]+)s)?$/.exec(d);
  assert.ok(m, `duration ${d}`);
  return (Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 1000;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('metrics.k8s.io, kubectl top and Prometheus through nodes/proxy on a real node', { skip, timeout: 300_000 }, () => {
  let stack: EdgeStack | undefined;
  const nodeName = `metrics-${process.pid}`;
  const uids = new Map<string, string>();
  /** cpuacct.usage of the burner's pod cgroup, sampled with wall time */
  const cpuRing: { at: number; ns: number }[] = [];
  let sampler: NodeJS.Timeout | undefined;
  let prometheus: ChildProcess | undefined;

  const podCgroup = (controller: string, pod: string): string => join(CG, controller, stack!.node.cgroupRoot, `pod${uids.get(pod) ?? ''}`);

  before(async () => {
    stack = await startEdgeStack({ nodes: [{ name: nodeName, runtimes: ['runc'] }], server: { extraArgs: ['--metric-resolution', String(RESOLUTION_S)] } });
    const s = stack;
    const pod = (name: string, script: string): string =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, labels: { app: name } },
        spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: s.busyboxImage, command: ['sh', '-c', script] }] },
      });
    for (const [name, script] of [
      ['burner', 'while :; do :; done'],
      // ~48 MiB held by the shell: anonymous memory, all of it working set
      // awk holds a 48 MiB string (touched: spaces) while it waits on sleep
      ['hog', `awk 'BEGIN { s = sprintf("%50331648s", ""); print "held"; system("sleep 3600"); print length(s) }'`],
    ]) {
      const r = await s.server.kubectl(['apply', '-f', '-'], { input: pod(name, script) });
      assert.equal(r.code, 0, r.stderr);
    }
    for (const name of ['burner', 'hog']) {
      const p = await waitUntil(`${name} running`, 90_000, async () => {
        const got = (await s.server.api('GET', `/api/v1/namespaces/default/pods/${name}`)).body as Pod;
        return got.status?.containerStatuses?.[0]?.state?.running ? got : undefined;
      }, s.explain);
      uids.set(name, p.metadata?.uid ?? '');
    }
    const usageFile = join(podCgroup('cpuacct', 'burner'), 'cpuacct.usage');
    assert.ok(existsSync(usageFile), `the burner's pod cgroup ${usageFile}`);
    sampler = setInterval(() => {
      readFile(usageFile, 'utf8').then(
        (t) => {
          cpuRing.push({ at: Date.now(), ns: Number(t.trim()) });
          if (cpuRing.length > 2000) cpuRing.shift();
        },
        () => undefined,
      );
    }, 100);
  });
  after(async () => {
    if (sampler) clearInterval(sampler);
    if (prometheus?.pid !== undefined && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus?.once('exit', r));
      process.kill(prometheus.pid, 'SIGTERM');
      await exited;
    }
    await stack?.close();
  });

  it('kubectl top pod shows the burner CPU and the hog memory as the cgroups count them', async () => {
    const s = stack!;
    // both pods with a rate (two scrapes each) and the hog done allocating
    let last = '';
    const explain = async (): Promise<string> => {
      const raw = await s.server.kubectl(['get', '--raw', `/api/v1/nodes/${nodeName}/proxy/metrics/resource`]);
      return `last PodMetricsList: ${last}\nnode /metrics/resource: ${raw.stdout}${raw.stderr}\n${s.explain()}`;
    };
    const got = await waitUntil('PodMetrics for both pods', 90_000, async () => {
      const r = await s.server.api('GET', '/apis/metrics.k8s.io/v1beta1/namespaces/default/pods');
      last = JSON.stringify(r.body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const items = (r.body as { items: PodMetrics[] }).items;
      const burner = items.find((i) => i.metadata.name === 'burner');
      const hog = items.find((i) => i.metadata.name === 'hog');
      // a window between two scrapes (not a fresh container rated from its start) that the cgroup sampler covers
      const covered = (m: PodMetrics): boolean => durationMs(m.window) >= 3000 && Date.parse(m.timestamp) - durationMs(m.window) > (cpuRing[0]?.at ?? Infinity) + 1000;
      return burner && hog && covered(burner) && bytes(hog.containers[0]?.usage.memory ?? '0') > 40 * 2 ** 20 ? { burner, hog } : undefined;
    }).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}\n${await explain()}`);
    });

    // CPU: the API's rate against cpuacct.usage over the same window (timestamps are whole seconds: ±1 s on a 6 s window)
    const { burner } = got;
    // the timestamp is whole seconds (metav1.Time): the read happened within the second after it
    const end = Date.parse(burner.timestamp) + 500;
    const start = end - durationMs(burner.window);
    const at = (t: number): number => {
      const near = cpuRing.reduce((best, x) => (Math.abs(x.at - t) < Math.abs(best.at - t) ? x : best));
      assert.ok(Math.abs(near.at - t) < 1500, `a cgroup sample near ${new Date(t).toISOString()}`);
      return near.ns;
    };
    const truth = (at(end) - at(start)) / ((end - start) / 1000);
    const api = cpuNano(burner.containers[0]?.usage.cpu ?? '0');
    const what = `API ${api / 1e6}m over ${burner.window} ending ${burner.timestamp}, cgroup ${Math.round(truth / 1e6)}m`;
    // the machine is shared: the loop gets what the scheduler gives it, so the band is relative
    assert.ok(api > 20e6, `the burner burns: ${what}`);
    assert.ok(api > truth * 0.6 && api < truth * 1.4, what);

    // memory: the container's working set against the pod cgroup's (the pod holds only this container)
    const stat = await readFile(join(podCgroup('memory', 'hog'), 'memory.stat'), 'utf8');
    const usage = Number((await readFile(join(podCgroup('memory', 'hog'), 'memory.usage_in_bytes'), 'utf8')).trim());
    const inactive = Number(/^total_inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
    const ws = usage - inactive;
    const hogApi = bytes(got.hog.containers[0]?.usage.memory ?? '0');
    assert.ok(Math.abs(hogApi - ws) < ws * 0.1 + 2 * 2 ** 20, `API ${hogApi} vs cgroup working set ${ws}`);

    const top = await s.server.kubectl(['top', 'pod']);
    assert.equal(top.code, 0, top.stderr);
    const rows = new Map(top.stdout.trim().split('\n').slice(1).map((l) => {
      const [name = '', cpu = '', mem = ''] = l.trim().split(/\s+/);
      return [name, { cpu, mem }] as const;
    }));
    assert.match(top.stdout, /^NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)/);
    assert.ok(cpuNano(rows.get('burner')?.cpu ?? '0') > 20e6, top.stdout);
    const hogMi = Number(/^(\d+)Mi$/.exec(rows.get('hog')?.mem ?? '')?.[1] ?? 0);
    assert.ok(hogMi >= 40 && hogMi < 80, top.stdout);

    const sel = await s.server.kubectl(['top', 'pod', '-l', 'app=hog', '--containers']);
    assert.equal(sel.code, 0, sel.stderr);
    assert.match(sel.stdout, /^hog\s+main\s+\d+m\s+\d+Mi/m);
    assert.doesNotMatch(sel.stdout, /burner/);
  });

  it('kubectl top node shows the node', async () => {
    const s = stack!;
    const top = await waitUntil('kubectl top node', 30_000, async () => {
      const r = await s.server.kubectl(['top', 'node']);
      return r.code === 0 ? r : undefined;
    }, s.explain);
    const row = top.stdout.split('\n').find((l) => l.startsWith(`${nodeName} `));
    assert.ok(row, top.stdout);
    const [, cpu = '', cpuPct = '', mem = '', memPct = ''] = row.trim().split(/\s+/);
    assert.ok(cpuNano(cpu) >= 100e6, `at least the burner: ${row}`);
    assert.match(cpuPct, /^\d+%$/);
    assert.match(mem, /^\d+Mi$/);
    assert.match(memPct, /^\d+%$/);
  });

  it('/stats/summary CPU, memory and network match the pod cgroups and the veth', async () => {
    const s = stack!;
    const r = await s.server.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web' },
        spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 1, containers: [{ name: 'web', image: s.httpdImage, command: ['sh', '-c', 'exec httpd -f -p 8080 -h /www'], readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } }] },
      }),
    });
    assert.equal(r.code, 0, r.stderr);
    const web = await waitUntil('web ready', 90_000, async () => {
      const got = (await s.server.api('GET', '/api/v1/namespaces/default/pods/web')).body as Pod;
      return got.status?.containerStatuses?.[0]?.ready && got.status.podIP ? got : undefined;
    }, s.explain);
    uids.set('web', web.metadata?.uid ?? '');
    const summary = async (): Promise<Summary> => {
      const res = await s.server.api('GET', `/api/v1/nodes/${nodeName}/proxy/stats/summary`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as Summary;
    };
    const podOf = (sum: Summary, name: string): Summary['pods'][number] => {
      const p = sum.pods.find((x) => x.podRef.name === name);
      assert.ok(p, `${name} in the summary`);
      return p;
    };

    // CPU: the summary's cumulative figure lies between two reads of the pod cgroup around it
    const cpuacct = async (): Promise<number> => Number((await readFile(join(podCgroup('cpuacct', 'burner'), 'cpuacct.usage'), 'utf8')).trim());
    const before = await cpuacct();
    const sum = await summary();
    const afterCpu = await cpuacct();
    const burnerCpu = podOf(sum, 'burner').cpu?.usageCoreNanoSeconds ?? 0;
    assert.ok(burnerCpu >= before && burnerCpu <= afterCpu, `summary ${burnerCpu} between cgroup reads ${before} and ${afterCpu}`);

    // memory: the hog's working set as the cgroup counts it (it is idle: a steady figure)
    const stat = await readFile(join(podCgroup('memory', 'hog'), 'memory.stat'), 'utf8');
    const usage = Number((await readFile(join(podCgroup('memory', 'hog'), 'memory.usage_in_bytes'), 'utf8')).trim());
    const ws = usage - Number(/^total_inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
    const hogWs = podOf(sum, 'hog').memory?.workingSetBytes ?? 0;
    assert.ok(Math.abs(hogWs - ws) <= ws * 0.05, `summary working set ${hogWs} vs cgroup ${ws}`);

    // network: the pod's eth0 against the host end of its veth, around a known transfer
    const procs = (await readFile(join(podCgroup('memory', 'web'), 'cgroup.procs'), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
    const nested = procs.length > 0 ? procs : await (async () => {
      const out = await run('sh', ['-c', `cat ${podCgroup('memory', 'web')}/*/cgroup.procs`]);
      return out.stdout.trim().split('\n').filter(Boolean);
    })();
    const pid = nested[0];
    assert.ok(pid, 'a process of the web pod');
    const link = await run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-j', 'link', 'show', 'eth0']);
    assert.equal(link.code, 0, link.stderr);
    const peer = (JSON.parse(link.stdout) as { link_index?: number }[])[0]?.link_index;
    assert.ok(peer, `eth0's peer: ${link.stdout}`);
    const veth = async (): Promise<{ rx: number; tx: number }> => {
      const st = await run('ip', ['-j', '-s', 'link']);
      const l = (JSON.parse(st.stdout) as { ifindex: number; stats64: { rx: { bytes: number }; tx: { bytes: number } } }[]).find((x) => x.ifindex === peer);
      assert.ok(l, `host interface ${peer}`);
      return { rx: l.stats64.rx.bytes, tx: l.stats64.tx.bytes };
    };
    const net = (x: Summary): { rx: number; tx: number } => ({ rx: podOf(x, 'web').network?.rxBytes ?? -1, tx: podOf(x, 'web').network?.txBytes ?? -1 });
    const n0 = net(await summary());
    const v0 = await veth();
    let payload = 0;
    for (let i = 0; i < 20; i++) payload += Buffer.byteLength(await fetchText(web.status!.podIP!, { port: 8080 }));
    const n1 = net(await summary());
    const v1 = await veth();
    // what the pod sent is what the host end received, and the other way round
    const sent = n1.tx - n0.tx;
    const hostGot = v1.rx - v0.rx;
    assert.ok(sent >= payload, `the pod sent at least the ${payload} payload bytes: ${sent}`);
    const near = (a: number, b: number): boolean => Math.abs(a - b) <= Math.max(512, b * 0.05);
    assert.ok(near(sent, hostGot), `pod tx ${sent} vs veth rx ${hostGot}`);
    assert.ok(near(n1.rx - n0.rx, v1.tx - v0.tx), `pod rx ${n1.rx - n0.rx} vs veth tx ${v1.tx - v0.tx}`);
  });
  it('an HPA on a Deployment shows its CPU utilization, scales up under load and back down', async () => {
    const s = stack!;
    const apply = async (o: unknown): Promise<void> => {
      const r = await s.server.kubectl(['apply', '-f', '-'], { input: JSON.stringify(o) });
      assert.equal(r.code, 0, r.stderr);
    };
    // each replica burns far more than its 20m request
    await apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'scaled' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'scaled' } },
        template: {
          metadata: { labels: { app: 'scaled' } },
          spec: { runtimeClassName: 'runc', terminationGracePeriodSeconds: 1, containers: [{ name: 'burn', image: s.busyboxImage, command: ['sh', '-c', 'while :; do :; done'], resources: { requests: { cpu: '20m' } } }] },
        },
      },
    });
    const hpa = (utilization: number): unknown => ({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'scaled' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'scaled' },
        minReplicas: 1,
        maxReplicas: 3,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: utilization } } }],
        behavior: { scaleDown: { stabilizationWindowSeconds: 0 } },
      },
    });
    await apply(hpa(50));
    interface HpaStatus { status?: { desiredReplicas?: number; currentMetrics?: { resource?: { current?: { averageUtilization?: number } } }[]; conditions?: { type: string; status: string; reason?: string }[] } }
    const status = async (): Promise<HpaStatus['status']> => ((await s.server.api('GET', '/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/scaled')).body as HpaStatus).status;
    const replicas = async (): Promise<number> => ((await s.server.api('GET', '/apis/apps/v1/namespaces/default/deployments/scaled')).body as { spec?: { replicas?: number } }).spec?.replicas ?? 0;
    let last: HpaStatus['status'];
    const up = await waitUntil('the HPA scales the Deployment to 3', 150_000, async () => {
      last = await status();
      return (await replicas()) === 3 && last?.desiredReplicas === 3 ? last : undefined;
    }, () => `HPA status: ${JSON.stringify(last)}\n${s.explain()}`);
    const util = up?.currentMetrics?.[0]?.resource?.current?.averageUtilization ?? 0;
    assert.ok(util > 50, `utilization above target: ${JSON.stringify(up)}`);
    assert.equal(up?.conditions?.find((c) => c.type === 'ScalingActive')?.status, 'True', JSON.stringify(up));
    const get = await s.server.kubectl(['get', 'hpa', 'scaled', '--no-headers']);
    assert.equal(get.code, 0, get.stderr);
    // kubectl shows the current utilization beside its target, as for upstream's printer
    assert.match(get.stdout, /^scaled\s+Deployment\/scaled\s+cpu: \d+%\/50%\s+1\s+3\s+\d+\s+\S+\s*$/m, get.stdout);

    // a target far above what the pods use: back down to minReplicas (no stabilization window asked)
    await apply(hpa(100_000));
    await waitUntil('the HPA scales the Deployment back to 1', 120_000, async () => ((await replicas()) === 1 ? true : undefined), s.explain);
  });
  it('a real Prometheus discovers the node through the apiserver (http_sd), scrapes cAdvisor metrics through nodes/proxy with a bearer token; offline, its series go stale', { skip: existsSync(PROMETHEUS) ? false : `${PROMETHEUS} not installed (Debian package prometheus, scripts/setup.sh OPTIONAL)` }, async () => {
    const s = stack!;
    // a least-privilege scraper identity: what a node-role Prometheus is granted (nodes, nodes/proxy)
    const rbac = [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'prometheus', namespace: 'default' } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'prometheus-nodes' }, rules: [{ apiGroups: [''], resources: ['nodes', 'nodes/proxy', 'nodes/metrics'], verbs: ['get', 'list', 'watch'] }] },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'prometheus-nodes' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'prometheus-nodes' },
        subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace: 'default' }],
      },
    ];
    for (const o of rbac) {
      const r = await s.server.kubectl(['apply', '-f', '-'], { input: JSON.stringify(o) });
      assert.equal(r.code, 0, r.stderr);
    }
    const tok = await s.server.kubectl(['create', 'token', 'prometheus', '--duration=1h']);
    assert.equal(tok.code, 0, tok.stderr);
    const dir = join(s.tmp, 'prometheus');
    await mkdir(join(dir, 'data'), { recursive: true });
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, tok.stdout.trim(), { mode: 0o600 });
    const caFile = join(s.server.dataDir, 'pki', 'ca.crt');
    const tls = `tls_config: { ca_file: ${JSON.stringify(caFile)} }`;
    const auth = `authorization: { credentials_file: ${JSON.stringify(tokenFile)} }`;
    // Debian's prometheus is built without kubernetes_sd (no client-go): it discovers the nodes over
    // http_sd from the apiserver (authorized as list nodes, the same token and CA); the relabelling
    // into nodes/proxy is the one kubernetes_sd's node role setups use (README: Prometheus)
    const config = [
      'global: { scrape_interval: 2s, scrape_timeout: 2s }',
      'scrape_configs:',
      '  - job_name: kubernetes-cadvisor',
      '    scheme: https',
      `    ${tls}`,
      `    ${auth}`,
      '    http_sd_configs:',
      // `type: Bearer` spelled out: Prometheus 2.42 does not default it in http_sd_configs and sends the bare token
      `      - { url: ${JSON.stringify(`${s.server.url}/prometheus/sd/nodes`)}, refresh_interval: 2s, ${tls}, authorization: { type: Bearer, credentials_file: ${JSON.stringify(tokenFile)} } }`,
      '    relabel_configs:',
      '      - { action: labelmap, regex: __meta_kubernetes_node_label_(.+) }',
      '      - { source_labels: [__meta_kubernetes_node_name], target_label: node }',
      '      - { source_labels: [__meta_kubernetes_node_name], regex: "(.+)", target_label: __metrics_path__, replacement: "/api/v1/nodes/$1/proxy/metrics/cadvisor" }',
      '',
    ].join('\n');
    await writeFile(join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    let out = '';
    prometheus = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    prometheus.stdout?.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-4000)));
    prometheus.stderr?.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-4000)));
    const explain = (): string => `prometheus:\n${out}\n${s.explain()}`;

    const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[] | undefined> => {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => undefined);
      if (!r?.ok) return undefined;
      const body = (await r.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      return body.status === 'success' ? body.data.result : undefined;
    };
    const series = await waitUntil('the burner series in Prometheus', 60_000, async () => {
      const res = await query('container_cpu_usage_seconds_total{pod="burner",container="main"}');
      return res && res.length > 0 ? res : undefined;
    }, explain);
    assert.equal(series[0]?.metric.namespace, 'default');
    assert.equal(series[0]?.metric.job, 'kubernetes-cadvisor');
    assert.equal(series[0]?.metric.node, nodeName);
    assert.ok(Number(series[0]?.value[1]) > 0);
    const up = await query(`up{job="kubernetes-cadvisor",node=${JSON.stringify(nodeName)}}`);
    assert.equal(up?.[0]?.value[1], '1', explain());
    // a rate over the scrapes: the burner is seen burning
    const rate = await waitUntil('a CPU rate in Prometheus', 30_000, async () => {
      const res = await query('rate(container_cpu_usage_seconds_total{pod="burner",container="main"}[10s])');
      return res && res.length > 0 && Number(res[0]?.value[1]) > 0 ? Number(res[0]?.value[1]) : undefined;
    }, explain);
    assert.ok(rate > 0.01, `burner rate ${rate}`);
    const targets = await fetch(`http://127.0.0.1:${port}/api/v1/targets?state=active`).then(async (r) => (await r.json()) as { data: { activeTargets: { discoveredLabels: Record<string, string>; scrapeUrl: string }[] } });
    const t = targets.data.activeTargets.find((x) => x.discoveredLabels.__meta_kubernetes_node_name === nodeName);
    assert.ok(t, `the node was discovered: ${JSON.stringify(targets)}`);
    assert.equal(t.scrapeUrl, `${s.server.url}/api/v1/nodes/${nodeName}/proxy/metrics/cadvisor`);

    // the node goes offline: its scrape fails and its series go stale (no longer current), not kept at their last value
    await s.node.stop();
    await waitUntil('up 0 for the offline node', 60_000, async () => ((await query(`up{job="kubernetes-cadvisor",node=${JSON.stringify(nodeName)}}`))?.[0]?.value[1] === '0' ? true : undefined), explain);
    const stale = await waitUntil('the burner series stale', 30_000, async () => {
      const res = await query('container_cpu_usage_seconds_total{pod="burner",container="main"}');
      return res && res.length === 0 ? res : undefined;
    }, explain);
    assert.deepEqual(stale, []);
  });
});
