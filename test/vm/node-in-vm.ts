/**
 * `hedge node` inside the cgroup v2 test machine (host-vm.ts), joined to a `hedge server` this
 * process starts on 127.0.0.1 (test/vm/README.md, "hedge node in the VM"). The guest reaches the
 * server at 10.0.2.2 (slirp), so the server's certificate names 10.0.2.2 (`--advertise-host`) and
 * the node's kubeconfig (`hedge token create-node --server`) points there. The node runs the dist/
 * bundle (built here when stale) with its data dir on the guest's tmpfs; its output is the VM
 * command's (files in the work share), and the wrapper marks its start and exit on the console.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// plain JS beside the launcher: bin/hedge.js runs dist/ only when this says it is current
import { distIsCurrent } from '../../bin/dist-current.js';
import { pushLayout, startRegistry, type RunningRegistry } from '../fixtures/images/registry.ts';
import { buildTestImages } from '../fixtures/images/build.ts';
import { findKubectl, REPO_ROOT, run, startHedgeServer, type HedgeServer, type StartOptions } from '../e2e/harness.ts';
import { waitUntil } from '../e2e/pod-checks.ts';
import { startHostVm, type HostVm, type HostVmResult } from './host-vm.ts';
import { shellQuote } from '../../src/agent/host/run-command.ts';

/** the host's loopback as the guest sees it (slirp) */
export const GUEST_HOST_ADDR = '10.0.2.2';
/** the guest's own address on slirp's network */
export const GUEST_ADDR = '10.0.2.15';
/** the node's data dir: on the guest's tmpfs, gone with the VM */
export const GUEST_DATA_DIR = '/run/hedge-node';
/** the kubeconfig's name in the work share */
const KUBECONFIG = 'node.kubeconfig';
/** console markers the guest wrapper prints (the host times them) */
const MARK = { probe: 'NIV-SERVER ', start: 'NIV-NODE-START', exit: 'NIV-NODE-EXIT ' } as const;
/** what a node's pods need that the guest kernel has as modules (README: each loads in ~0.35 s) */
const DEFAULT_MODULES = ['veth', 'bridge', 'nf_tables'];

export interface NodeInVmOptions {
  /** the Node's name (default `hvm-node`) */
  nodeName?: string;
  /** more `hedge node` flags, after the harness's own (a later flag wins), e.g. `--microvm-boot-timeout-seconds 600` */
  extraNodeArgs?: string[];
  /** the checkout whose `bin/hedge.js` (its dist/ bundle, built when stale) the guest runs as the node (default this one); the server is always this one's */
  hedgeRoot?: string;
  /** RuntimeClass handlers the node offers (default runc) */
  runtimes?: string[];
  /** `hedge server` options; `--advertise-host 10.0.2.2` is added to its extraArgs */
  server?: StartOptions;
  /**
   * start a docker-registry on 127.0.0.1 holding the fixture busybox image (as edge-stack.ts does),
   * reached by the guest at 10.0.2.2:PORT and given to the node as `--insecure-registry`
   */
  registry?: boolean;
  /** kernel modules the guest loads before the node starts (default veth, bridge, nf_tables) */
  modules?: string[];
  /** the VM's whole life (boot included, not the bench-lock wait) */
  timeoutMs: number;
  lockTimeoutMs?: number;
  memMiB?: number;
  cpus?: number;
  signal?: AbortSignal;
}

export interface NodeInVm {
  server: HedgeServer;
  vm: HostVm;
  nodeName: string;
  /** the apiserver URL the node is given (https://10.0.2.2:PORT) */
  guestServerUrl: string;
  /** with `registry`: the busybox image as the guest pulls it (10.0.2.2:PORT/hedge/busybox:1) */
  busyboxImage: string;
  registry: RunningRegistry | undefined;
  /** the node's stdout and stderr so far (live, from the work share; from the result once the VM is gone) */
  output(): Promise<string>;
  /** resolves with the first match of `re` in output() (polled); rejects once the VM is gone without it */
  waitForOutput(re: RegExp): Promise<string>;
  /**
   * how the guest reached the server before the node started (`kubectl get --raw /version` with the
   * node's kubeconfig): `ok`, `failed`, or `skipped` without kubectl on this host
   */
  serverProbe(): Promise<'ok' | 'failed' | 'skipped'>;
  /** resolves with the node's exit code once the wrapper reports it on the console */
  nodeExit(): Promise<number>;
  /** ms since startNodeInVm was called: server ready, qemu running, node started, node exited; node Ready and pod Running (runBusyboxPod), as far as reached */
  timings: { serverReadyMs?: number; vmStartedMs?: number; nodeStartMs?: number; nodeExitMs?: number; nodeReadyMs?: number; podRunningMs?: number };
  /** ms since startNodeInVm was called */
  elapsed(): number;
  /** kill the VM, stop the server and the registry by PID, remove temp dirs; the VM's result (idempotent) */
  close(): Promise<HostVmResult | undefined>;
}

/** the guest's command: load modules, probe the server, run the node, report its exit on the console */
function guestWrapper(o: { modules: string[]; kubectl: string | undefined; nodeArgs: string[] }): string {
  const kubeconfig = `"$HVM_DIR/${KUBECONFIG}"`;
  return [
    o.modules.length ? `modprobe -a ${o.modules.map(shellQuote).join(' ')} || echo "modprobe ${o.modules.join(' ')} failed" >&2` : ':',
    o.kubectl
      ? `if ${shellQuote(o.kubectl)} --kubeconfig ${kubeconfig} --request-timeout=60s get --raw /version >/dev/null; then echo "${MARK.probe}ok" >/dev/console; else echo "${MARK.probe}failed" >/dev/console; fi`
      : `echo "${MARK.probe}skipped" >/dev/console`,
    `echo ${MARK.start} >/dev/console`,
    `node bin/hedge.js node --kubeconfig ${kubeconfig} ${o.nodeArgs.map(shellQuote).join(' ')}`,
    'rc=$?',
    `echo "${MARK.exit}$rc" >/dev/console`,
    'exit $rc',
  ].join('\n');
}

/** `npm run build` when dist/ is stale: the guest runs the bundle (the sources through tsx are ~2–4× slower there) */
export function ensureBundle(root = REPO_ROOT): void {
  if (!distIsCurrent(root)) execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'ignore' });
}

/**
 * Starts the server (and the registry), boots the VM with `hedge node` as its command and returns
 * once qemu runs; the node is still starting (or refusing to). The caller closes it.
 */
export async function startNodeInVm(o: NodeInVmOptions): Promise<NodeInVm> {
  const t0 = performance.now();
  const since = (): number => Math.round(performance.now() - t0);
  const nodeName = o.nodeName ?? 'hvm-node';
  const timings: NodeInVm['timings'] = {};
  const hedgeRoot = o.hedgeRoot ?? REPO_ROOT;
  ensureBundle(hedgeRoot);
  const tmp = await mkdtemp(join(tmpdir(), 'hedge-niv-'));
  let server: HedgeServer | undefined;
  let registry: RunningRegistry | undefined;
  let vm: HostVm | undefined;
  let result: HostVmResult | undefined;
  let closed: Promise<HostVmResult | undefined> | undefined;
  const close = (): Promise<HostVmResult | undefined> =>
    (closed ??= (async () => {
      const failures: unknown[] = [];
      const step = async (f: () => Promise<unknown>): Promise<void> => {
        await f().catch((err: unknown) => failures.push(err));
      };
      await step(async () => {
        vm?.kill();
        result = await vm?.result;
      });
      await step(async () => server?.stop());
      await step(async () => server?.cleanup());
      await step(async () => registry?.stop());
      await step(() => rm(tmp, { recursive: true, force: true }));
      if (failures.length > 0) throw new AggregateError(failures, `node in VM close: ${failures.length} step(s) failed`);
      return result;
    })());
  try {
    let busyboxImage = '';
    const nodeArgs = [
      '--node-name', nodeName,
      '--data-dir', GUEST_DATA_DIR,
      '--internal-ip', GUEST_ADDR,
      '--pod-subnet', '10.88.0.0/24',
      '--runtimes', (o.runtimes ?? ['runc']).join(','),
      '--ingress-http-port', '0',
      '--ingress-https-port', '0',
      '--log-level', 'info',
    ];
    const [srv, reg] = await Promise.all([
      startHedgeServer({ ...o.server, extraArgs: [...(o.server?.extraArgs ?? []), '--advertise-host', GUEST_HOST_ADDR] }),
      o.registry
        ? (async () => {
            const [images, r] = await Promise.all([buildTestImages(join(tmp, 'images')), startRegistry()]);
            registry = r;
            await pushLayout(images.layoutDir, r.url, 'hedge/busybox:1', 'busybox');
            return r;
          })()
        : undefined,
    ]);
    server = srv;
    timings.serverReadyMs = since();
    if (reg) {
      const guestRegistry = `${GUEST_HOST_ADDR}:${new URL(reg.url).port}`;
      busyboxImage = `${guestRegistry}/hedge/busybox:1`;
      nodeArgs.push('--insecure-registry', guestRegistry);
    }
    nodeArgs.push(...(o.extraNodeArgs ?? []));
    const guestServerUrl = `https://${GUEST_HOST_ADDR}:${new URL(srv.url).port}`;
    const kubeconfigOnHost = join(tmp, KUBECONFIG);
    const tok = await run(process.execPath, [join(REPO_ROOT, 'bin', 'hedge.js'), 'token', 'create-node', nodeName, '--data-dir', srv.dataDir, '--kubeconfig-out', kubeconfigOnHost, '--server', guestServerUrl]);
    if (tok.code !== 0) throw new Error(`hedge token create-node ${nodeName}: ${tok.stderr}`);
    const kubeconfig = await readFile(kubeconfigOnHost);
    const started = await startHostVm({
      command: ['sh', '-c', guestWrapper({ modules: o.modules ?? DEFAULT_MODULES, kubectl: findKubectl(), nodeArgs })],
      cwd: hedgeRoot,
      timeoutMs: o.timeoutMs,
      lockTimeoutMs: o.lockTimeoutMs,
      memMiB: o.memMiB,
      cpus: o.cpus,
      signal: o.signal,
      prepare: (dir) => writeFile(join(dir, KUBECONFIG), kubeconfig, { mode: 0o600 }),
    });
    vm = started;
    timings.vmStartedMs = since();
    const marked = (re: RegExp, key: 'nodeStartMs' | 'nodeExitMs'): Promise<string> =>
      started.waitForConsole(re).then((m) => {
        timings[key] ??= since();
        return m;
      });
    const startSeen = marked(new RegExp(MARK.start), 'nodeStartMs');
    const exitSeen = marked(new RegExp(`${MARK.exit}(\\d+)`), 'nodeExitMs');
    // watched from the start so the timings are taken when the line comes, asked for or not
    startSeen.catch(() => undefined);
    exitSeen.catch(() => undefined);
    const probeSeen = started.waitForConsole(new RegExp(`${MARK.probe}(ok|failed|skipped)`));
    probeSeen.catch(() => undefined);
    const workFile = (f: string): Promise<string> => readFile(join(started.workDir, f), 'utf8').catch(() => '');
    // the output is the result's once qemu is gone (the work directory goes with it)
    let ended: HostVmResult | undefined;
    let vmGone = false;
    const gone = started.result
      .then(
        (r) => {
          ended = r;
        },
        () => undefined,
      )
      .finally(() => (vmGone = true));
    const output = async (): Promise<string> => {
      const r = ended ?? result;
      if (r) return `${r.stdout}${r.stderr}`;
      return `${await workFile('stdout')}${await workFile('stderr')}`;
    };
    // polled (a few reads of two small files a second at most)
    const waitForOutput = async (re: RegExp): Promise<string> => {
      let delay = 100;
      for (;;) {
        const over = vmGone;
        const m = re.exec(await output());
        if (m) return m[0];
        if (over) throw new Error(`the VM ended before the node's output showed ${re}`);
        await Promise.race([sleep(delay), gone]);
        delay = Math.min(delay * 2, 1000);
      }
    };
    return {
      server: srv,
      vm: started,
      nodeName,
      guestServerUrl,
      busyboxImage,
      registry,
      output,
      waitForOutput,
      serverProbe: async () => (await probeSeen).slice(MARK.probe.length) as 'ok' | 'failed' | 'skipped',
      nodeExit: async () => Number((await exitSeen).slice(MARK.exit.length)),
      timings,
      elapsed: since,
      close,
    };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

interface NodeStatus {
  status?: { conditions?: { type: string; status: string }[] };
}
interface PodStatus {
  status?: { phase?: string; containerStatuses?: { state?: Record<string, unknown> }[] };
}

/** the Node object as the server has it, or undefined (404) */
export async function registeredNode(niv: NodeInVm): Promise<unknown> {
  const r = await niv.server.api('GET', `/api/v1/nodes/${niv.nodeName}`);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`GET node ${niv.nodeName}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/**
 * Waits for the Node to be Ready, creates a busybox pod (`sleep 3600`, RuntimeClass runc unless
 * `runtimeClassName` says otherwise) from the registry (startNodeInVm `registry: true`), waits for
 * it to run and returns it. Fails early, with the node's output, when the node exits first.
 */
export async function runBusyboxPod(niv: NodeInVm, o: { name?: string; namespace?: string; runtimeClassName?: string; readyTimeoutMs?: number; runningTimeoutMs?: number } = {}): Promise<PodStatus> {
  if (!niv.busyboxImage) throw new Error('runBusyboxPod: start the node with registry: true');
  const name = o.name ?? 'hvm-busybox';
  const ns = o.namespace ?? 'default';
  let exited: number | undefined;
  void niv.nodeExit().then((c) => (exited = c), () => undefined);
  let out = '';
  const explain = (): string => `node output:\n${out.slice(-4000)}\nserver output:\n${niv.server.output().slice(-2000)}`;
  const watch = async <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> =>
    waitUntil(what, timeoutMs, async () => {
      if (exited !== undefined) {
        out = await niv.output();
        throw new Error(`hedge node exited (${exited}) while waiting for ${what}\n${explain()}`);
      }
      return probe();
    }, explain);
  await watch(`node ${niv.nodeName} Ready`, o.readyTimeoutMs ?? 300_000, async () => {
    const node = (await registeredNode(niv)) as NodeStatus | undefined;
    return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
  });
  niv.timings.nodeReadyMs = niv.elapsed();
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      nodeName: niv.nodeName,
      runtimeClassName: o.runtimeClassName ?? 'runc',
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'c', image: niv.busyboxImage, command: ['sleep', '3600'], resources: { limits: { memory: '32Mi', cpu: '500m' } } }],
    },
  };
  const created = await niv.server.api('POST', `/api/v1/namespaces/${ns}/pods`, pod);
  if (created.status !== 201) throw new Error(`create pod ${name}: ${created.status} ${JSON.stringify(created.body)}`);
  const running = await watch(`pod ${name} Running`, o.runningTimeoutMs ?? 300_000, async () => {
    const r = await niv.server.api('GET', `/api/v1/namespaces/${ns}/pods/${name}`);
    const p = r.body as PodStatus;
    if (p.status?.phase === 'Failed') throw new Error(`pod ${name} Failed: ${JSON.stringify(p.status)}\n${explain()}`);
    return p.status?.phase === 'Running' ? p : undefined;
  });
  niv.timings.podRunningMs = niv.elapsed();
  return running;
}
