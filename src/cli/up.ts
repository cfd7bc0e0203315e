import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { createLogger } from '../lib/log.ts';
import { timeoutSignal } from '../lib/signals.ts';
import { flushLogger } from './flush-logger.ts';
import { nodeDefaults, resolveNodeSettings, type NodeSettings } from './node-config.ts';
import { LOG_BUFFER_HELP, LOG_SINK_HELP } from './node.ts';
import { addServerOptions, settingsFromFlags, type ServerFlags } from './server.ts';
import { ConfigError, type ServerSettings } from './server-config.ts';
import { stagedShutdownSignals } from './signals.ts';
import { usageError } from './usage-error.ts';
import { withIsolation } from './isolation-text.ts';

interface UpFlags extends ServerFlags {
  demo: boolean;
  logSink?: string[];
  logBufferBytes?: string;
  bridge?: string;
  nodeConfig?: string;
  podManifestPath?: string;
}

const UP_DATA_DIR = './.hedge';
/** SIGTERM → SIGKILL for the node's containers when `hedge up` stops (kubelet's graceful node shutdown is the model) */
const UP_POD_GRACE_SECONDS = 10;
/** `<data-dir>/up.json`: this run's pid and demo registry, so a run after a crash finds what it left */
const UP_STATE_FILE = 'up.json';

interface UpState {
  pid: number;
  registry?: { pid: number; dir: string };
}

/** the process `pid` runs, as its argv (empty when it is gone) */
async function argvOf(pid: number): Promise<string[]> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return raw.split('\0').filter((a) => a !== '');
}

/**
 * What a previous `hedge up` on this data dir left when it did not stop (SIGKILL, a crash, power
 * loss): its demo registry is stopped and removed here; its pods are adopted by the node's start
 * (as after any node restart) and its bridge, guard and masquerade rules re-ensured, so they go
 * with this run's stop. A run still alive is refused: two would fight over one node.
 */
async function takeOverLeftovers(path: string, say: (s: string) => void): Promise<void> {
  let prior: UpState;
  try {
    prior = JSON.parse(await readFile(path, 'utf8')) as UpState;
  } catch {
    return;
  }
  const argv = await argvOf(prior.pid);
  if (prior.pid !== process.pid && argv.includes('up')) {
    throw usageError(`--data-dir ${dirname(path)}: another hedge up (pid ${prior.pid}) is running on it; stop it first`);
  }
  say(`a previous hedge up (pid ${prior.pid}) did not stop cleanly: adopting its pods, removing its leftovers`);
  if (prior.registry) {
    const reg = prior.registry;
    if ((await argvOf(reg.pid)).some((a) => a.startsWith(reg.dir))) {
      try {
        process.kill(reg.pid, 'SIGKILL');
        say(`removed demo registry process ${reg.pid}`);
      } catch {
        // gone meanwhile
      }
    }
    await rm(reg.dir, { recursive: true, force: true });
  }
}

/**
 * The `hedge node` flags of `hedge up`'s node: its data, kubeconfig and listener under the
 * server's data dir, and what the user gave `hedge up` for the node (flags win over --node-config).
 */
export function upNodeFlags(
  settings: Pick<ServerSettings, 'dataDir' | 'logLevel' | 'clusterCidr'>,
  flags: Pick<UpFlags, 'logSink' | 'logBufferBytes' | 'bridge' | 'podManifestPath'>,
): Partial<Record<keyof NodeSettings, unknown>> {
  return {
    kubeconfig: join(settings.dataDir, 'node', 'kubeconfig'),
    dataDir: join(settings.dataDir, 'node'),
    listen: '127.0.0.1:0',
    internalIP: '127.0.0.1',
    logLevel: settings.logLevel,
    logSink: flags.logSink,
    logBufferBytes: flags.logBufferBytes,
    bridge: flags.bridge,
    // as --data-dir: a relative directory is the working directory's (the node wants an absolute one)
    staticPodPath: flags.podManifestPath === undefined ? undefined : resolve(flags.podManifestPath),
    // pods reach other pods of the cluster without NAT: the range the control plane gives out
    clusterCidr: settings.clusterCidr,
  };
}

/**
 * `hedge up` runs the control plane and one node in this one process. They still talk only
 * through the Kubernetes API over HTTPS (the node with its own token kubeconfig, exactly as a
 * remote `hedge node` would), so nothing is short-circuited; one process just means one Ctrl-C,
 * one log stream and nothing to orphan. Containers are conmon-supervised either way.
 */
export function registerUpCommand(program: Command): void {
  const cmd = program
    .command('up')
    .description('run a whole hedge on this machine (control plane + one local node), start a demo pod per runtime, run until Ctrl-C')
    .option('--no-demo', 'do not build the demo image and run the demo pods')
    .option('--log-sink <url>', `node: ${LOG_SINK_HELP}`, (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--log-buffer-bytes <bytes>', `node: ${LOG_BUFFER_HELP}`)
    .option('--bridge <name>', 'node: host bridge the pods attach to (default: hedge0)')
    .option('--pod-manifest-path <dir>', 'node: static pods, the Pod manifests in this directory (*.yaml, *.yml, *.json, watched; relative to the working directory), run with no apiserver needed, each mirrored in the apiserver')
    .option('--node-config <file>', 'node: YAML file of `hedge node` settings (keys as its flags in camelCase: bridge, netnsDir, cgroupRoot, runtimes, serviceProxyTable, ...); flags win')
    .addHelpText(
      'after',
      '\nCtrl-C (or SIGTERM) stops the pods and removes what `hedge up` made on the host (bridge, nftables\n' +
        'tables, masquerade rules, pod network namespaces, mounts, cgroups), logging each; a second Ctrl-C\n' +
        'kills the containers without their grace period and still cleans up; a third exits at once.\n' +
        'After a crash the next `hedge up` on the same --data-dir adopts or removes what was left.',
    );
  addServerOptions(cmd, { dataDir: UP_DATA_DIR, logLevel: 'warn' }).action(async (flags: UpFlags) => {
    const settings = await settingsFromFlags(flags, { dataDir: UP_DATA_DIR, logLevel: 'warn' });
    settings.dataDir = resolve(settings.dataDir);
    let nodeSettings;
    try {
      nodeSettings = await resolveNodeSettings({ flags: upNodeFlags(settings, flags), configFile: flags.nodeConfig, defaults: { nodeName: nodeDefaults().nodeName } });
    } catch (err) {
      if (err instanceof ConfigError) {
        throw usageError(/^default nodeName/.test(err.message) ? `node name from host name "${hostname()}": ${err.message}` : err.message.replace(/^--config /, '--node-config '));
      }
      throw err;
    }
    const logger = createLogger({ level: settings.logLevel });
    const { requested: shutdown, forced } = stagedShutdownSignals();
    const stop = new AbortController();
    // one shutdown signal is shared by every pod worker, watch and retry wait: many listeners is normal
    setMaxListeners(0, stop.signal);
    void shutdown.then(() => stop.abort(new Error('interrupted')));
    const out = (s: string): boolean => process.stdout.write(`${s}\n`);
    const statePath = join(settings.dataDir, UP_STATE_FILE);
    try {
      await takeOverLeftovers(statePath, out);
      const saveState = (st: UpState): Promise<void> => writeFile(statePath, JSON.stringify(st));
      // loaded on use: `hedge --help` must not pull in the store, apiserver and agent
      const [{ startServer }, { startNode }, { writeKubeconfig }, { loadKubeconfig }, demo] = await Promise.all([
        import('./start-server.ts'),
        import('./start-node.ts'),
        import('../apiserver/auth/kubeconfig.ts'),
        import('../client/index.ts'),
        import('./demo.ts'),
      ]);
      const server = await startServer(settings, logger);
      await saveState({ pid: process.pid });
      out(`hedge control plane ready at ${server.url}`);
      const pki = join(settings.dataDir, 'pki');
      const [ca, cert, key] = await Promise.all(['ca.crt', 'admin.crt', 'admin.key'].map((f) => readFile(join(pki, f), 'utf8')));
      const creds = { url: server.url, ca, cert, key };

      // the node's own credentials: a node token, kept across runs (the port may change: rewrite the URL)
      const prior = await loadKubeconfig(nodeSettings.kubeconfig).catch(() => undefined);
      // the name --node-config may have given, which the token's identity must match (node authorization)
      const nodeName = nodeSettings.nodeName;
      const known = prior?.token !== undefined ? server.tokenFile.lookup(prior.token) : undefined;
      const token = prior?.token !== undefined && known?.username === `system:node:${nodeName}` ? prior.token : await server.tokenFile.createNodeToken(nodeName);
      await writeKubeconfig(nodeSettings.kubeconfig, { server: server.url, caCert: ca, credentials: { token }, user: `system:node:${nodeName}` });

      let node: Awaited<ReturnType<typeof startNode>> | undefined;
      let image: Awaited<ReturnType<typeof demo.prepareDemoImage>> | undefined;
      const demoPods: string[] = [];
      try {
        node = await startNode(nodeSettings, logger);
        const isolation = node.isolation;
        out(`hedge node ${node.nodeName} ready (runtimes: ${node.runtimes.map((r) => withIsolation(r, isolation)).join(', ')}; pods on bridge ${nodeSettings.bridge}, ${nodeSettings.podSubnet ?? 'podCIDR from the control plane'})`);
        if (flags.demo) {
          out('\ndemo: building the busybox httpd image from Debian\'s busybox-static ...');
          image = await demo.prepareDemoImage({ workDir: join(settings.dataDir, 'demo-image'), images: node.images, signal: stop.signal });
          if (image.registry) await saveState({ pid: process.pid, registry: image.registry });
          out(`demo: image ${image.ref} (${image.source})`);
          const pods = node.runtimes.map((rt) => demo.demoPod(`hello-${rt}`, rt, image!));
          demoPods.push(...pods.map((p) => p.metadata!.name!));
          out(`demo: creating ${demoPods.join(', ')} in namespace ${demo.DEMO_NAMESPACE} and waiting for Running and Ready ...`);
          const t0 = Date.now();
          const running = await demo.runDemoPods(creds, pods, stop.signal);
          out(`demo: all Ready after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
          out(demo.formatPodsWide(running));
          for (const p of running) {
            const page = await demo.fetchPodPage(p.status!.podIP!, stop.signal);
            out(`\nGET http://${p.status!.podIP}:8080/  (${p.metadata!.name}, runtimeClassName ${p.spec!.runtimeClassName})\n${page.trimEnd()}`);
          }
        }
        out(`\nexport KUBECONFIG=${server.kubeconfigPath}`);
        out('then try:');
        out(`  kubectl get nodes -o wide`);
        if (demoPods.length > 0) {
          out(`  kubectl get pods -n ${demo.DEMO_NAMESPACE} -o wide`);
          out(`  kubectl logs -n ${demo.DEMO_NAMESPACE} ${demoPods[0]}`);
          out(`  kubectl exec -n ${demo.DEMO_NAMESPACE} ${demoPods[demoPods.length - 1]} -- uname -a    # gVisor answers with its own kernel`);
        }
        out('Press Ctrl-C to stop (the demo pods are deleted first, then every pod stops and what hedge made on the host is removed; Ctrl-C again to hurry).');
        await shutdown;
        out('\nstopping');
      } finally {
        if (demoPods.length > 0 && !forced.aborted) {
          // a fresh signal: `stop` is already aborted by the Ctrl-C that brought us here
          const bounded = timeoutSignal(forced, 60_000);
          await demo.deleteDemoPods(creds, demoPods, bounded).catch((err: unknown) => logger.error({ err }, 'demo cleanup failed'));
          bounded.clear();
        }
        // unlike a plain `hedge node`, whose pods outlive it: nothing of `hedge up` stays behind
        const removed = (await node?.removeAll({ graceSeconds: UP_POD_GRACE_SECONDS, forced })) ?? [];
        for (const r of removed) out(`removed ${r}`);
        if (image?.registry) out(`removed demo registry process ${image.registry.pid} and ${image.registry.dir}`);
        await image?.stop();
        await server.close();
        await rm(statePath, { force: true });
        out('stopped');
      }
    } finally {
      await flushLogger(logger);
    }
  });
}
