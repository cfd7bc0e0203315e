import { CommanderError } from 'commander';
import { createProgram } from './program.ts';

/** Run the CLI; resolves to the process exit status (0 ok, 1 runtime failure, 2 bad usage). */
export async function runCli(argv: string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander printed its own message already, except for the ones we raise
      if (err.code === 'hedge.usage') process.stderr.write(`hedge: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`hedge: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

process.exit(await runCli(process.argv));
