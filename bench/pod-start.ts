/**
 * Pod create → Running through the whole system (apiserver, scheduler, agent, CNI, conmon,
 * runtime; image cached), for runc and gVisor, beside a bare `runc run -d` / `runsc run --detach`
 * of an equivalent busybox bundle in the same run. Created via the API (no kubectl); "Running" is
 * seen on a watch. The agent runs from the `npm run build` bundle with the flags of bin/hedge.js's
 * shebang (rebuilt and restarted until no source is newer than the bundle), at debug log level, so
 * its per-pod start trace (podsync/start-trace.ts) gives where the time goes, with the OCI
 * handler's own steps under container create/start (its `runtime span` debug lines, matched by the
 * pod's containerID) and the median pod's timeline. Prints markdown tables; asserts nothing.
 * Needs root.
 * The apiserver runs at debug level too: its `request` lines give its own time for the pod's
 * create, binding and status PATCHes. HEDGE_BENCH_SERVER_PROF=DIR writes the apiserver's CPU
 * profile there (V8 --cpu-prof); HEDGE_BENCH_NODE_FLAGS replaces the node's V8 flags
 * (bench/lib/built-agent.ts).
 * Run: node --import tsx bench/pod-start.ts [iterations=10] [runtimes=runc,gvisor] [settle-ms=0]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../src/api/object.ts';
import { loadSandbox } from '../src/agent/podsync/sandbox-state.ts';
import { RUNTIME_SPAN_MSG, START_TRACE_MSG, type StartTraceRecord } from '../src/agent/podsync/start-trace.ts';
import { runtimeDefaultSeccomp } from '../src/agent/runtime/oci/seccomp.ts';
import { makeBusyboxRootfs } from '../src/agent/runtime/oci/test-support.ts';
import { HttpKubeClient, loadKubeconfig, Resources } from '../src/client/index.ts';
import { startEdgeStack } from '../test/e2e/edge-stack.ts';
import { edgeNodeSkipReason, type HedgeNode } from '../test/e2e/node-harness.ts';
import { launchAsShipped, runBuiltAgent } from './lib/built-agent.ts';

const iterations = Number(process.argv[2] ?? 10);
const only = process.argv[3]?.split(',');
/** pause after each deletion, e.g. to let a torn-down gVisor sandbox's processes finish exiting */
const settleMs = Number(process.argv[4] ?? 0);
/** hedge node's pod network pool size (--netns-pool, given so older trees without the default pool compare alike) */
const POOL_SIZE = 2;
const RUNTIMES = [
  { rc: 'runc', bin: '/usr/sbin/runc', global: [] as string[], detach: '-d' },
  { rc: 'gvisor', bin: '/usr/bin/runsc', global: ['--network=host', '--platform=ptrace'], detach: '--detach' },
].filter((r) => !only || only.includes(r.rc));

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : '-');

const skip = edgeNodeSkipReason(['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/bin/busybox']);
if (skip) {
  console.log(`pod-start bench skipped: ${skip}`);
  process.exit(0);
}

function bareRun(rt: (typeof RUNTIMES)[number], bundle: string, root: string, id: string): number {
  const t0 = performance.now();
  execFileSync(rt.bin, [...rt.global, `--root=${root}`, 'run', rt.detach, '--bundle', bundle, id], { stdio: 'ignore' });
  const t = performance.now() - t0;
  execFileSync(rt.bin, [...rt.global, `--root=${root}`, 'delete', '--force', id], { stdio: 'ignore' });
  return t;
}

/**
 * The apiserver's own time (its `request` debug lines: method, url, ms) for a pod's writes: the
 * create (its url names no pod: the last collection POST logged before this pod's binding; pods
 * are created one at a time), the scheduler's binding, the agent's status PATCHes, and the
 * projected service account volume's TokenRequest and kube-root-ca.crt GET (the agent's `volumes`
 * span is these two through the hub plus the files written).
 */
function apiserverSpans(out: string, pod: string): Map<string, number> {
  const spans = new Map<string, number>();
  let lastCreate: number | undefined;
  let patches = 0;
  // the volumes' requests name no pod: those between this pod's binding and its status PATCH (one pod at a time)
  let bound = false;
  for (const line of out.split('\n')) {
    if (!line.includes('"msg":"request"')) continue;
    try {
      const j = JSON.parse(line) as { method?: string; url?: string; ms?: number };
      const path = j.url?.split('?')[0] ?? '';
      if (j.ms === undefined) continue;
      if (j.method === 'POST' && path === '/api/v1/namespaces/default/pods') lastCreate = j.ms;
      else if (j.method === 'POST' && path === `/api/v1/namespaces/default/pods/${pod}/binding`) {
        if (lastCreate !== undefined) spans.set('create (POST)', lastCreate);
        spans.set('binding (POST)', j.ms);
        bound = true;
      } else if (bound && patches === 0 && j.method === 'POST' && path.endsWith('/serviceaccounts/default/token')) {
        spans.set('volumes: TokenRequest (POST)', j.ms);
      } else if (bound && patches === 0 && j.method === 'GET' && path.endsWith('/configmaps/kube-root-ca.crt')) {
        spans.set('volumes: kube-root-ca.crt (GET)', j.ms);
      } else if (j.method === 'PATCH' && path === `/api/v1/namespaces/default/pods/${pod}/status`) {
        patches++;
        spans.set(`status PATCH #${patches}`, j.ms);
      }
    } catch {
      // a line split across chunks: skip
    }
  }
  return spans;
}

/** every start trace the agent logged so far, by pod name */
function traces(node: HedgeNode): Map<string, StartTraceRecord> {
  const out = new Map<string, StartTraceRecord>();
  for (const line of node.output().split('\n')) {
    if (!line.includes(START_TRACE_MSG)) continue;
    try {
      const j = JSON.parse(line) as { pod?: string; startTrace?: StartTraceRecord };
      if (j.pod && j.startTrace) out.set(j.pod.split('/')[1], j.startTrace);
    } catch {
      // a line split across chunks: skip
    }
  }
  return out;
}

/** the runtime handler's own steps (debug log, by container id; trees without them log none), summed per step */
function runtimeSpans(node: HedgeNode, containerId: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!containerId) return out;
  for (const line of node.output().split('\n')) {
    if (!line.includes(RUNTIME_SPAN_MSG) || !line.includes(containerId)) continue;
    try {
      const j = JSON.parse(line) as { container?: string; step?: string; ms?: number };
      if (j.container === containerId && j.step && j.ms !== undefined) out.set(j.step, (out.get(j.step) ?? 0) + j.ms);
    } catch {
      // a line split across chunks: skip
    }
  }
  return out;
}

interface Observed {
  bound?: number;
  running?: number;
  deleted?: number;
}

launchAsShipped();
const stack = await startEdgeStack({
  nodes: [{ name: `bench-${process.pid}`, runtimes: RUNTIMES.map((r) => r.rc), extraArgs: ['--log-level', 'debug', '--netns-pool', '2'] }],
  // debug: the apiserver logs each request with its handler time (request-pipeline.ts)
  server: { extraArgs: ['--log-level', 'debug'], ...(process.env.HEDGE_BENCH_SERVER_PROF ? { execArgv: ['--cpu-prof', '--cpu-prof-interval', '100', `--cpu-prof-dir=${process.env.HEDGE_BENCH_SERVER_PROF}`] } : {}) },
});
const { server, node, busyboxImage } = stack;
const agentBuild = await runBuiltAgent(node);

const client = new HttpKubeClient(await loadKubeconfig(server.kubeconfig));
const watchStop = new AbortController();
const seen = new Map<string, Observed>();
/** pod → its container's runtime id (status.containerStatuses[].containerID without its scheme) */
const containerIds = new Map<string, string>();
const waiters = new Map<string, () => void>();
const poke = (name: string): void => waiters.get(name)?.();
const watching = (async () => {
  const list = await client.list(Resources.pods, { namespace: 'default' });
  for await (const ev of client.watch<Pod & KubeObject>(Resources.pods, { namespace: 'default', resourceVersion: list.metadata.resourceVersion, signal: watchStop.signal })) {
    const now = Date.now();
    const name = ev.object.metadata?.name ?? '';
    const o = seen.get(name) ?? {};
    seen.set(name, o);
    if (ev.type === 'DELETED') o.deleted ??= now;
    else {
      if (ev.object.spec?.nodeName) o.bound ??= now;
      if (ev.object.status?.phase === 'Running') {
        o.running ??= now;
        const cid = ev.object.status.containerStatuses?.[0]?.containerID?.replace(/^[a-z]+:\/\//, '');
        if (cid && !containerIds.has(name)) containerIds.set(name, cid);
      }
    }
    poke(name);
  }
})().catch((err: unknown) => {
  if (!watchStop.signal.aborted) throw err;
});
const until = async (name: string, what: keyof Observed, timeoutMs = 60_000): Promise<number> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = seen.get(name)?.[what];
    if (t !== undefined) return t;
    const left = deadline - Date.now();
    if (left <= 0) {
      const r = await server.api('GET', `/api/v1/namespaces/default/pods/${name}`);
      throw new Error(`${name} not ${what} in ${timeoutMs} ms: ${JSON.stringify((r.body as Pod).status)}`);
    }
    await new Promise<void>((res) => {
      const t = setTimeout(res, left);
      waiters.set(name, () => {
        clearTimeout(t);
        res();
      });
    });
    waiters.delete(name);
  }
};

const results: string[][] = [];
const breakdown: { rc: string; rows: [string, number[]][]; timeline?: string }[] = [];
const bundleTmp = mkdtempSync(join(tmpdir(), 'hedge-bench-bundle-'));
try {
  const bundle = join(bundleTmp, 'bundle');
  makeBusyboxRootfs(join(bundle, 'rootfs'));
  execFileSync('/usr/sbin/runc', ['spec', '--bundle', bundle]);
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] }; linux: { namespaces: { type: string }[] } };
  spec.process.terminal = false;
  spec.process.args = ['sleep', '3600'];
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const specNoNet = { ...spec, linux: { ...spec.linux, namespaces: spec.linux.namespaces.filter((n) => n.type !== 'network') } };
  const bundleGv = join(bundleTmp, 'bundle-gv');
  execFileSync('cp', ['-a', bundle, bundleGv]);
  writeFileSync(join(bundleGv, 'config.json'), JSON.stringify(specNoNet));
  // the same bundle confined as hedge confines a runc container by default (the node's RuntimeDefault
  // profile: runc compiles its ~340-syscall allow list into BPF at every create); gVisor gets none
  const bundleSeccomp = join(bundleTmp, 'bundle-seccomp');
  execFileSync('cp', ['-a', bundle, bundleSeccomp]);
  writeFileSync(join(bundleSeccomp, 'config.json'), JSON.stringify({ ...spec, linux: { ...spec.linux, seccomp: runtimeDefaultSeccomp() } }));

  const podOf = (name: string, rc: string): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { runtimeClassName: rc, terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: busyboxImage, command: ['sleep', '3600'] }] },
  });
  const createRunningDelete = async (name: string, rc: string): Promise<{ t0: number; answered: number; bound: number; running: number; uid: string }> => {
    const t0 = Date.now();
    const r = await server.api('POST', '/api/v1/namespaces/default/pods', podOf(name, rc));
    const answered = Date.now();
    if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    const running = await until(name, 'running');
    const bound = await until(name, 'bound');
    return { t0, answered, bound, running, uid: (r.body as Pod).metadata?.uid ?? '' };
  };
  const deletePod = async (name: string, uid: string): Promise<void> => {
    await server.api('DELETE', `/api/v1/namespaces/default/pods/${name}`, { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 });
    // the next pod must not share the machine with this one's teardown: with grace 0 the object
    // is gone at once, while the agent still stops the containers and frees sandbox, network
    // and volumes (its sandbox record goes last)
    await until(name, 'deleted');
    const deadline = Date.now() + 60_000;
    while ((await loadSandbox(node.dataDir, uid)) !== undefined) {
      if (Date.now() > deadline) throw new Error(`${name}: the agent did not free its sandbox in 60 s`);
      await new Promise((res) => setTimeout(res, 20));
    }
  };

  /**
   * A node with a pool of pod networks (src/agent/network/netns-pool.ts, listed in
   * <data-dir>/network-pool.json; the literal name so this bench runs against trees without
   * one) refills it after a pod takes one, once no pod is starting: that work must not land on
   * the next measurement (the bare run, or the next pod), as a deleted pod's teardown must not.
   */
  const poolSettled = async (): Promise<void> => {
    const file = join(node.dataDir, 'network-pool.json');
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      let listed: { making?: boolean }[];
      try {
        listed = JSON.parse(readFileSync(file, 'utf8')) as { making?: boolean }[];
      } catch {
        return; // no pool
      }
      if (listed.length >= POOL_SIZE && !listed.some((p) => p.making)) return;
      await new Promise((res) => setTimeout(res, 20));
    }
  };

  for (const rt of RUNTIMES) {
    // warm-up pod: pulls and unpacks the image, so the measured ones find it cached
    await deletePod(`warm-${rt.rc}`, (await createRunningDelete(`warm-${rt.rc}`, rt.rc)).uid);
    const system: number[] = [];
    const bare: number[] = [];
    const bareSeccomp: number[] = [];
    const parts = new Map<string, number[]>();
    /** each pod's total and its spans in order, to show the median pod's timeline */
    const timelines: { total: number; text: string }[] = [];
    const add = (k: string, v: number): void => {
      parts.set(k, [...(parts.get(k) ?? []), v]);
    };
    for (let i = 0; i < iterations; i++) {
      const name = `ps-${rt.rc}-${i}`;
      // interleaved, so both sides see the same machine load; each on a node at rest
      await poolSettled();
      bare.push(bareRun(rt, rt.rc === 'gvisor' ? bundleGv : bundle, join(bundleTmp, `root-${rt.rc}`), `bare-${rt.rc}-${i}`));
      if (rt.rc === 'runc') bareSeccomp.push(bareRun(rt, bundleSeccomp, join(bundleTmp, `root-${rt.rc}`), `bare-sc-${rt.rc}-${i}`));
      const { t0, answered, bound, running, uid } = await createRunningDelete(name, rt.rc);
      system.push(running - t0);
      await deletePod(name, uid);
      if (settleMs > 0) await new Promise((res) => setTimeout(res, settleMs));
      const tr = traces(node).get(name);
      add('POST → bound (apiserver + scheduler; watch-observed)', bound - t0);
      add('  of which POST → its 201 answer (apiserver create)', answered - t0);
      for (const [k, v] of apiserverSpans(server.output(), name)) add(`apiserver handler: ${k}`, v);
      if (tr) {
        add('bound → agent worker created (informer)', tr.seenAt - bound);
        const sums = new Map<string, number>();
        for (const s of tr.spans) sums.set(s.name, (sums.get(s.name) ?? 0) + s.ms);
        for (const [k, v] of sums) {
          add(`  agent: ${k}`, v);
          if (k === 'container create' || k === 'container start') for (const [step, t] of runtimeSpans(node, containerIds.get(name) ?? '')) add(`    handler: ${step}`, t);
        }
        add('  agent: (not in a span)', tr.totalMs - [...sums.values()].reduce((a, b) => a + b, 0));
        add('agent worker created → Running written', tr.totalMs);
        add('Running written → seen on watch', running - (tr.seenAt + tr.totalMs));
        const at = (ms: number): string => (tr.seenAt - t0 + ms).toFixed(0).padStart(4);
        const lines = [...tr.spans].sort((a, b) => a.atMs - b.atMs).map((s) => `${at(s.atMs)} → ${at(s.atMs + s.ms)}  ${s.name}`);
        timelines.push({ total: running - t0, text: [`   0 POST; ${ms(bound - t0)} bound; ${ms(tr.seenAt - t0)} worker created`, ...lines, `${at(tr.totalMs)} Running written; ${ms(running - t0)} seen on watch`].join('\n') });
      }
    }
    const confined = bareSeccomp.length ? [ms(pct(bareSeccomp, 50)), (pct(system, 50) / pct(bareSeccomp, 50)).toFixed(1)] : ['-', '-'];
    results.push([rt.rc, String(iterations), ms(pct(system, 50)), ms(pct(system, 99)), ms(pct(bare, 50)), ms(pct(bare, 99)), (pct(system, 50) / pct(bare, 50)).toFixed(1), ...confined]);
    const sorted = [...timelines].sort((a, b) => a.total - b.total);
    breakdown.push({ rc: rt.rc, rows: [...parts], timeline: sorted[Math.floor((sorted.length - 1) / 2)]?.text });
  }
} finally {
  watchStop.abort();
  await watching;
  await client.close();
  await stack.deleteAllPods({ timeoutSeconds: 60 });
  await stack.close();
  rmSync(bundleTmp, { recursive: true, force: true });
}

console.log(`\n### pod create → Running (image cached), whole system vs bare runtime\n\nagent: ${agentBuild}, node flags: \`${process.env.HEDGE_E2E_NODE_FLAGS}\`\n`);
console.log('| runtime | n | hedge p50 ms | hedge p99 ms | bare run p50 ms | bare run p99 ms | hedge/bare p50 | bare run + RuntimeDefault seccomp p50 ms | hedge/that p50 |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of results) console.log(`| ${r.join(' | ')} |`);
console.log('\nTargets (docs/targets.md): runc p50 ≤ 300 ms, gVisor p50 ≤ 600 ms. Bare = `runc run -d` / `runsc run --detach` of a busybox `sleep` bundle (no conmon, no CNI, no API, no seccomp filter); + RuntimeDefault seccomp = the same with the profile hedge gives every runc container that asks for none (`seccompDefault`), whose BPF runc builds at each create (gVisor containers get none: their boundary is the sandbox).');
for (const b of breakdown) {
  console.log(`\n#### where the time goes: ${b.rc} (p50 of each part over ${iterations} pods; parts do not add up exactly)\n`);
  console.log('| part | p50 ms | max ms |');
  console.log('| --- | --- | --- |');
  for (const [k, v] of b.rows) console.log(`| ${k} | ${ms(pct(v, 50))} | ${ms(Math.max(...v))} |`);
  if (b.timeline) console.log(`\nthe median pod's timeline (ms since its POST; agent spans overlap where work runs side by side):\n\n\`\`\`\n${b.timeline}\n\`\`\`\n`);
}
