/**
 * Resolve on the first SIGINT/SIGTERM. A second signal while shutting down means
 * "now": it exits at once with status 1.
 */
export function waitForShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(1));
      process.once('SIGTERM', () => process.exit(1));
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** the part of `process` the signal handling uses (tests pass an emitter) */
export interface SignalSource {
  on(event: 'SIGINT' | 'SIGTERM', listener: (sig: NodeJS.Signals) => void): unknown;
  exit(code: number): void;
}

export interface StagedShutdown {
  /** the first SIGINT/SIGTERM: stop gracefully */
  requested: Promise<NodeJS.Signals>;
  /** aborted by the second: skip the waits (grace periods, API deletes), but still clean up */
  forced: AbortSignal;
}

/**
 * Three stages, for a process that owns host state it must not leave behind (`hedge up`): the
 * first signal starts a graceful stop, the second makes it quick (containers killed without their
 * grace period, nothing waited for) yet still removes what was created, the third exits at once
 * with status 1 (what is left is adopted or removed by the next start).
 */
export function stagedShutdownSignals(proc: SignalSource = process): StagedShutdown {
  const force = new AbortController();
  let seen = 0;
  const requested = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      seen++;
      if (seen === 1) resolve(sig);
      else if (seen === 2) force.abort(new Error(`second ${sig}: stopping quickly`));
      else proc.exit(1);
    };
    proc.on('SIGINT', onSignal);
    proc.on('SIGTERM', onSignal);
  });
  return { requested, forced: force.signal };
}
