import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createLogger } from '../lib/log.ts';
import { runDemo } from './demo.ts';
import { flushLogger } from './flush-logger.ts';
import { addServerOptions, settingsFromFlags, type ServerFlags } from './server.ts';
import { waitForShutdownSignal } from './signals.ts';

interface UpFlags extends ServerFlags {
  demo: boolean;
}

const UP_DATA_DIR = './.hedge';

export function registerUpCommand(program: Command): void {
  const cmd = program
    .command('up')
    .description('run a whole hedge on this machine with embedded defaults, create a small demo, and keep running until Ctrl-C')
    .option('--no-demo', 'do not create the demo namespace, ConfigMap and Pod');
  addServerOptions(cmd, { dataDir: UP_DATA_DIR, logLevel: 'warn' }).action(async (flags: UpFlags) => {
    const settings = await settingsFromFlags(flags, { dataDir: UP_DATA_DIR, logLevel: 'warn' });
    settings.dataDir = resolve(settings.dataDir);
    const logger = createLogger({ level: settings.logLevel });
    const shutdown = waitForShutdownSignal();
    const out = (s: string): boolean => process.stdout.write(`${s}\n`);
    try {
      // loaded on use: `hedge --help` must not pull in the store and apiserver
      const { startServer } = await import('./start-server.ts');
      const server = await startServer(settings, logger);
      out(`hedge control plane ready at ${server.url}`);
      out(`export KUBECONFIG=${server.kubeconfigPath}`);
      if (flags.demo) {
        const pki = resolve(settings.dataDir, 'pki');
        const [ca, cert, key] = await Promise.all(
          ['ca.crt', 'admin.crt', 'admin.key'].map((f) => readFile(resolve(pki, f), 'utf8')),
        );
        out('\ndemo: created through the Kubernetes API');
        out(await runDemo({ url: server.url, ca, cert, key }));
        out('\ntry: kubectl get pods -n demo -o wide; kubectl describe pod hello -n demo');
      }
      out(
        '\nnote: this is the control plane only; the node agent (edgehub + sandboxes) is not part of\n' +
          'hedge up yet, so pods stay Pending. Press Ctrl-C to stop.',
      );
      await shutdown;
      out('stopping');
      await server.close();
    } finally {
      await flushLogger(logger);
    }
  });
}
