/** A tiny QMP client: greeting, qmp_capabilities, then commands matched to replies by id. */
import { connect, type Socket } from 'node:net';
import { HedgeError } from '../../../lib/errors.ts';

type QmpValue = string | number | boolean | null | QmpValue[] | { [k: string]: QmpValue };
type QmpArgs = Record<string, QmpValue>;
interface QmpReply {
  id?: string;
  return?: QmpValue;
  error?: { class: string; desc: string };
  event?: string;
  data?: QmpValue;
  QMP?: QmpValue;
}

export class QmpClient {
  readonly #sock: Socket;
  readonly #pending = new Map<string, { resolve: (v: QmpValue) => void; reject: (e: Error) => void }>();
  readonly #events: { event: string; data?: QmpValue }[] = [];
  #nextId = 1;
  #greeting: (() => void) | undefined;

  private constructor(sock: Socket) {
    this.#sock = sock;
    let rest = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      rest += chunk;
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) this.#onMessage(JSON.parse(l) as QmpReply);
    });
    sock.on('close', () => {
      for (const p of this.#pending.values()) p.reject(new HedgeError('Unavailable', 'QMP connection closed'));
      this.#pending.clear();
    });
    sock.on('error', () => {
      /* surfaced through close */
    });
  }

  static async connect(path: string, signal: AbortSignal): Promise<QmpClient> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    }).catch((err: Error) => {
      throw new HedgeError('Unavailable', `connect QMP ${path}: ${err.message}`, { cause: err });
    });
    const c = new QmpClient(sock);
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new HedgeError('Timeout', 'no QMP greeting')), 10_000);
        signal.addEventListener('abort', () => reject(new HedgeError('Timeout', 'QMP connect aborted')), { once: true });
        c.#greeting = () => {
          clearTimeout(t);
          resolve();
        };
      });
      await c.execute('qmp_capabilities', {}, signal);
    } catch (err) {
      c.close();
      throw err;
    }
    return c;
  }

  #onMessage(m: QmpReply): void {
    if (m.QMP !== undefined) {
      this.#greeting?.();
      return;
    }
    if (m.event) {
      this.#events.push(m.data === undefined ? { event: m.event } : { event: m.event, data: m.data });
      return;
    }
    const p = m.id ? this.#pending.get(m.id) : undefined;
    if (!p || !m.id) return;
    this.#pending.delete(m.id);
    if (m.error) p.reject(new HedgeError('Internal', `QMP ${m.error.class}: ${m.error.desc}`));
    else p.resolve(m.return ?? null);
  }

  execute(command: string, args: QmpArgs, signal: AbortSignal): Promise<QmpValue> {
    const id = String(this.#nextId++);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#pending.delete(id);
        reject(new HedgeError('Timeout', `QMP ${command} aborted`));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      const msg: { execute: string; id: string; arguments?: QmpArgs } = { execute: command, id };
      if (Object.keys(args).length) msg.arguments = args;
      this.#sock.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** events seen so far (e.g. DEVICE_DELETED), oldest first */
  takeEvents(): { event: string; data?: QmpValue }[] {
    return this.#events.splice(0);
  }

  close(): void {
    this.#sock.destroy();
  }
}
