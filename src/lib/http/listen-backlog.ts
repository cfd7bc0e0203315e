/**
 * The accept queue a server with many clients listens with: the kernel's cap (net.core.somaxconn),
 * as Go's net package takes it for every listener (so the kube-apiserver has it), not Node's 511.
 * When the queue is full, Linux drops the handshake's last ACK (tcp_abort_on_overflow=0): the
 * client believes it is connected, sends its request and waits out retransmissions (1 s, 2 s, ...),
 * and one whose handshake the server gave up answers with a reset (ECONNRESET). Edge nodes all
 * reconnecting after an outage to a server whose event loop is busy can fill 511 (bench/fleet.ts
 * counts the overflows: none on a quiet machine, thousands beside other work with Node's 511).
 */
import { readFileSync } from 'node:fs';

const NODE_DEFAULT = 511;
/** Linux clamps a larger value to somaxconn; Go caps at this too (its maxListenerBacklog, 16 bits) */
const MAX = 65_535;

/** somaxconn's text → the backlog to ask for (Node's default for anything unreadable) */
export function backlogFrom(somaxconn: string | undefined): number {
  const n = Number(somaxconn?.trim() || NaN);
  return Number.isInteger(n) && n > 0 ? Math.min(n, MAX) : NODE_DEFAULT;
}

let cached: number | undefined;

export function listenBacklog(): number {
  if (cached === undefined) {
    let text: string | undefined;
    try {
      text = readFileSync('/proc/sys/net/core/somaxconn', 'utf8');
    } catch {
      // not Linux, or no /proc: Node's default
    }
    cached = backlogFrom(text);
  }
  return cached;
}
