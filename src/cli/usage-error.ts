import { CommanderError } from 'commander';

/** Exit status for bad usage (unknown flag, bad value, bad config file), as docs/design.md fixes it. */
export const EXIT_USAGE = 2;

export function usageError(message: string): CommanderError {
  return new CommanderError(EXIT_USAGE, 'hedge.usage', message);
}
