import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { createLogger } from '../lib/log.ts';
import { flushLogger } from './flush-logger.ts';
import { nodeDefaults, resolveNodeSettings } from './node-config.ts';
import { LOG_BUFFER_HELP, LOG_SINK_HELP } from './node.ts';
import { addServerOptions, settingsFromFlags, type ServerFlags } from './server.ts';
import { ConfigError } from './server-config.ts';
import { waitForShutdownSignal } from './signals.ts';
import { usageError } from './usage-error.ts';
import { withIsolation } from './isolation-text.ts';

interface UpFlags extends ServerFlags {
  demo: boolean;
  logSink?: string[];
  logBufferBytes?: string;
}

const UP_DATA_DIR = './.hedge';

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
    .option('--log-buffer-bytes <bytes>', `node: ${LOG_BUFFER_HELP}`);
  addServerOptions(cmd, { dataDir: UP_DATA_DIR, logLevel: 'warn' }).action(async (flags: UpFlags) => {
    const settings = await settingsFromFlags(flags, { dataDir: UP_DATA_DIR, logLevel: 'warn' });
    settings.dataDir = resolve(settings.dataDir);
    const nodeName = nodeDefaults().nodeName;
    let nodeSettings;
    try {
      nodeSettings = await resolveNodeSettings({
        flags: { kubeconfig: join(settings.dataDir, 'node', 'kubeconfig'), nodeName, dataDir: join(settings.dataDir, 'node'), listen: '127.0.0.1:0', internalIP: '127.0.0.1', logLevel: settings.logLevel, logSink: flags.logSink, logBufferBytes: flags.logBufferBytes },
      });
    } catch (err) {
      if (err instanceof ConfigError) throw usageError(/^--log-/.test(err.message) ? err.message : `node name from host name "${hostname()}": ${err.message}`);
      throw err;
    }
    const logger = createLogger({ level: settings.logLevel });
    const shutdown = waitForShutdownSignal();
    const stop = new AbortController();
    // one shutdown signal is shared by every pod worker, watch and retry wait: many listeners is normal
    setMaxListeners(0, stop.signal);
    void shutdown.then(() => stop.abort(new Error('interrupted')));
    const out = (s: string): boolean => process.stdout.write(`${s}\n`);
    try {
      // loaded on use: `hedge --help` must not pull in the store, apiserver and agent
      const [{ startServer }, { startNode }, { writeKubeconfig }, { loadKubeconfig }, demo] = await Promise.all([
        import('./start-server.ts'),
        import('./start-node.ts'),
        import('../apiserver/auth/kubeconfig.ts'),
        import('../client/index.ts'),
        import('./demo.ts'),
      ]);
      const server = await startServer(settings, logger);
      out(`hedge control plane ready at ${server.url}`);
      const pki = join(settings.dataDir, 'pki');
      const [ca, cert, key] = await Promise.all(['ca.crt', 'admin.crt', 'admin.key'].map((f) => readFile(join(pki, f), 'utf8')));
      const creds = { url: server.url, ca, cert, key };

      // the node's own credentials: a node token, kept across runs (the port may change: rewrite the URL)
      const prior = await loadKubeconfig(nodeSettings.kubeconfig).catch(() => undefined);
      const token = prior?.token !== undefined && server.tokenFile.lookup(prior.token) !== undefined ? prior.token : await server.tokenFile.createNodeToken(nodeName);
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
        out('Press Ctrl-C to stop (the demo pods are deleted first).');
        await shutdown;
        out('\nstopping');
      } finally {
        if (demoPods.length > 0) {
          // a fresh signal: `stop` is already aborted by the Ctrl-C that brought us here
          await demo.deleteDemoPods(creds, demoPods, AbortSignal.timeout(60_000)).catch((err: unknown) => logger.error({ err }, 'demo cleanup failed'));
        }
        await node?.close();
        await image?.stop();
        await server.close();
      }
    } finally {
      await flushLogger(logger);
    }
  });
}
