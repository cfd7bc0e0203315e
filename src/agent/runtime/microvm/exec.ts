/**
 * exec in a microVM: a guest process whose output is routed to the caller's streams, stdin fed
 * from the request (within the guest's stdin window, guest-stdin.ts), with `tty` a pty in the guest
 * sized from the request's resize channel, killed when the request aborts; a lost guest connection
 * fails the exec.
 */
import { HedgeError } from '../../../lib/errors.ts';
import type { ExecRequest } from '../types.ts';
import type { GuestAgentClient, GuestProcessSpec } from './agent-client.ts';
import { exitCodeOf } from './frames.ts';
import { GuestStdin } from './guest-stdin.ts';
import type { Route } from './guest-routes.ts';

const SIGKILL = 9;

/** a terminal needs a guest agent with the `tty` feature: an older guest is refused by name rather than given a pipe */
export function requireTerminal(c: GuestAgentClient, what: string): void {
  if (c.agent.tty) return;
  throw new HedgeError(
    'BadRequest',
    `${what}: the pod's guest agent is version ${c.agent.version}, which has no terminals (tty needs guest agent version 2); recreate the pod to boot the current guest`,
  );
}

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
  const spec: GuestProcessSpec = { ...o.spec, stdin: !!req.stdin };
  if (req.tty) {
    requireTerminal(c, id);
    // the size comes on the resize channel, usually right after the start: 0×0 until then
    spec.tty = { width: 0, height: 0 };
  }
  const stdin = req.stdin ? new GuestStdin(c, procId) : undefined;
  try {
    await c.start(procId, spec, req.signal);
  } catch (err) {
    routes.delete(procId);
    stdin?.close();
    throw new HedgeError('Internal', `exec in ${id}: ${(err as Error).message}`, { cause: err });
  }
  req.signal.addEventListener('abort', onAbort, { once: true });
  const unsize = req.tty ? req.terminalSizes?.onResize((size) => !c.closed && c.resize(procId, size)) : undefined;
  if (req.stdin && stdin) void stdin.feed(req.stdin, { signal: req.signal, endAtEnd: true });
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
    unsize?.();
    stdin?.close();
  }
  if (req.signal.aborted) throw new HedgeError('Timeout', 'exec aborted', { cause: req.signal.reason });
  return code;
}
