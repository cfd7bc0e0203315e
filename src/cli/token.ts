import type { Command } from 'commander';
import { writeKubeconfig } from '../apiserver/auth/kubeconfig.ts';
import { TokenFile, tokenFilePath } from '../apiserver/auth/tokens.ts';
import { loadKubeconfig } from '../client/index.ts';
import { join } from 'node:path';
import { usageError } from './usage-error.ts';

interface CreateNodeFlags {
  dataDir?: string;
  kubeconfigOut?: string;
  server?: string;
}

export function registerTokenCommand(program: Command): void {
  const token = program.command('token').description('manage bearer tokens in <data-dir>/tokens.csv');
  token
    .command('create-node <nodeName>')
    .description('create a token for a node agent (user system:node:<nodeName>, group system:nodes) and print it')
    .option('--data-dir <dir>', 'the control plane data directory (default: /var/lib/hedge)')
    .option('--kubeconfig-out <file>', 'also write a kubeconfig for `hedge node --kubeconfig` (token + CA + server URL)')
    .option('--server <url>', 'API server URL written into --kubeconfig-out (default: the one in <data-dir>/kubeconfig)')
    .action(async (nodeName: string, flags: CreateNodeFlags) => {
      const dataDir = flags.dataDir ?? '/var/lib/hedge';
      if (flags.server !== undefined && !/^https:\/\/[^/]+\/?$/.test(flags.server)) throw usageError(`--server: "${flags.server}" is not https://HOST:PORT`);
      // read the admin kubeconfig first: a failure here must not leave a token behind
      const admin =
        flags.kubeconfigOut === undefined
          ? undefined
          : await loadKubeconfig(join(dataDir, 'kubeconfig')).catch((err: unknown) => {
              throw usageError(`--data-dir ${dataDir}: no readable kubeconfig (has \`hedge server\` run there?): ${(err as Error).message}`);
            });
      if (admin !== undefined && admin.ca === undefined) throw usageError(`--data-dir ${dataDir}: the kubeconfig there has no CA`);
      const file = await TokenFile.open(tokenFilePath(dataDir));
      let secret: string;
      try {
        secret = await file.createNodeToken(nodeName);
      } catch (err) {
        if (err instanceof Error && 'code' in err && err.code === 'Invalid') throw usageError(`<nodeName>: ${err.message}`);
        throw err;
      }
      if (flags.kubeconfigOut !== undefined && admin?.ca !== undefined) {
        await writeKubeconfig(flags.kubeconfigOut, {
          server: (flags.server ?? admin.server).replace(/\/+$/, ''),
          caCert: admin.ca,
          credentials: { token: secret },
          user: `system:node:${nodeName}`,
        });
      }
      process.stdout.write(`${secret}\n`);
    });
}
