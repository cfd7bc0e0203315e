import { Command, CommanderError } from 'commander';
import { registerImageCommand } from './image.ts';
import { registerMigrateCommand } from './migrate.ts';
import { registerNodeCommand } from './node.ts';
import { registerServerCommand } from './server.ts';
import { registerTokenCommand } from './token.ts';
import { registerUpCommand } from './up.ts';
import { EXIT_USAGE } from './usage-error.ts';

/** The `hedge` command tree. Commander errors become CommanderError throws (never process.exit). */
export function createProgram(): Command {
  const program = new Command('hedge')
    .description('Kubernetes-compatible platform for untrusted workloads on edge nodes')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    // every commander complaint (unknown flag, missing argument, ...) is bad usage: 2; help/version stay 0
    .exitOverride((err: CommanderError) => {
      throw err.exitCode === 0 ? err : new CommanderError(EXIT_USAGE, err.code, err.message);
    });
  registerServerCommand(program);
  registerNodeCommand(program);
  registerUpCommand(program);
  registerTokenCommand(program);
  registerImageCommand(program);
  registerMigrateCommand(program);
  return program;
}
