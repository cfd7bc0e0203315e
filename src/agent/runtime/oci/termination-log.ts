/**
 * The host file behind a container's terminationMessagePath (kubelet's per-instance file under the
 * pod's container dir; here `containers/<id>/termination-log`, gone with the container). The
 * container writes it through a bind mount; after the exit the handler reports its end.
 */
import { chmodSync, constants, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { TERMINATION_MESSAGE_BYTES } from '../types.ts';

/**
 * an empty file any container user may write (0666 whatever the umask, as the kubelet makes it).
 * Synchronous (two syscalls): made on every container's create path, where each fs/promises call
 * waited a thread-pool turn and an event-loop turn (host/atomic-fs.ts)
 */
export function makeTerminationLog(path: string): void {
  writeFileSync(path, '', { mode: 0o666 });
  chmodSync(path, 0o666);
}

/**
 * The file's last TERMINATION_MESSAGE_BYTES (the kubelet's tail.ReadAtMost); undefined when it is
 * missing or empty. A file that cannot be read is reported in the message, as upstream does.
 */
export async function readTerminationMessage(path: string): Promise<string | undefined> {
  let f;
  try {
    // O_NOFOLLOW: only the file the handler made, never a link put in its place
    f = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return `Error on reading termination log ${path}: ${(err as Error).message}`;
  }
  try {
    const { size } = await f.stat();
    if (size === 0) return undefined;
    const n = Math.min(size, TERMINATION_MESSAGE_BYTES);
    const buf = Buffer.alloc(n);
    const { bytesRead } = await f.read(buf, 0, n, size - n);
    return buf.subarray(0, bytesRead).toString('utf8');
  } catch (err) {
    return `Error on reading termination log ${path}: ${(err as Error).message}`;
  } finally {
    await f.close();
  }
}
