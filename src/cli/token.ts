import type { Command } from 'commander';
import { TokenFile, tokenFilePath } from '../apiserver/auth/tokens.ts';
import { usageError } from './usage-error.ts';

export function registerTokenCommand(program: Command): void {
  const token = program.command('token').description('manage bearer tokens in <data-dir>/tokens.csv');
  token
    .command('create-node <nodeName>')
    .description('create a token for a node agent (user system:node:<nodeName>, group system:nodes) and print it')
    .option('--data-dir <dir>', 'the control plane data directory (default: /var/lib/hedge)')
    .action(async (nodeName: string, flags: { dataDir?: string }) => {
      const file = await TokenFile.open(tokenFilePath(flags.dataDir ?? '/var/lib/hedge'));
      try {
        process.stdout.write(`${await file.createNodeToken(nodeName)}\n`);
      } catch (err) {
        if (err instanceof Error && 'code' in err && err.code === 'Invalid') throw usageError(`<nodeName>: ${err.message}`);
        throw err;
      }
    });
}
