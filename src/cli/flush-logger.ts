import type { Logger } from '../lib/log.ts';

/** Wait until buffered log lines are written, so a following process.exit loses none. */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      logger.flush(() => resolve());
    } catch {
      resolve();
    }
  });
}
