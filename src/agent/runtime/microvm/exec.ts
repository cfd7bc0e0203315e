/**
 * exec in a microVM: a guest process whose output is routed to the caller's streams, stdin fed
 * from the request, killed when the request aborts; a lost guest connection fails the exec.
 */
import { HedgeError } from '../../../lib/errors.ts';
import type { ExecRequest } from '../types.ts';
import type { GuestAgentClient, GuestProcessSpec } from './agent-client.ts';
import { exitCodeOf } from './frames.ts';
import type { Route } from './guest-routes.ts';

const SIGKILL = 9;

/** Resolves with the exit code. */
export async function execInGuest(o: { client: GuestAgentClient; routes: Map<number, Route>; spec: GuestProcessSpec; req: ExecRequest; what: string }): Promise<number> {
  const { client: c, routes, req } = o;
  const id = o.what;
  const procId = c.newId();
  const exited = new Promise<number>((resolve) => {
    const r: Route = { kind: 'exec', onExit: (status) => resolve(exitCodeOf(status).exitCode) };
    if (req.stdout) r.out = req.stdout;
    if (req.stderr) r.err = req.stderr;
    routes.set(procId, r);
  });
  const onAbort = (): void => {
    if (!c.closed) c.kill(procId, SIGKILL);
  };
  try {
    await c.start(procId, o.spec, req.signal);
  } catch (err) {
    routes.delete(procId);
    throw new HedgeError('Internal', `exec in ${id}: ${(err as Error).message}`, { cause: err });
  }
  req.signal.addEventListener('abort', onAbort, { once: true });
  if (req.stdin) {
    req.stdin.on('data', (d: Buffer | string) => {
      if (!c.closed) c.stdin(procId, Buffer.isBuffer(d) ? d : Buffer.from(d));
    });
    req.stdin.on('end', () => {
      if (!c.closed) c.stdin(procId, null);
    });
  }
  // removed again below: exec probes run for the VM's whole life and must not pile up listeners
  let onClose: () => void = () => undefined;
  const closed = new Promise<never>((_, reject) => {
    onClose = () => reject(new HedgeError('Unavailable', `guest agent connection lost during exec in ${id}`));
    c.once('close', onClose);
  });
  let code: number;
  try {
    code = await Promise.race([exited, closed]);
  } finally {
    c.off('close', onClose);
    req.signal.removeEventListener('abort', onAbort);
    routes.delete(procId);
  }
  if (req.signal.aborted) throw new HedgeError('Timeout', 'exec aborted', { cause: req.signal.reason });
  return code;
}
