/**
 * Client of the guest agent over the VM's virtio-serial chardev (a unix socket qemu listens on).
 * One connection per VM; qemu accepts one client at a time. Process ids are chosen by the host
 * (random 31-bit, so a restarted agent cannot collide with ids the guest still tracks).
 */
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { HedgeError } from '../../../lib/errors.ts';
import { encodeGuestVolume, type GuestVolume } from './guest-volumes.ts';
import { decodeOutput, encodeAck, encodeEntries, encodeFrame, encodeResize, FrameDecoder, GuestFrame, HostFrame, parseAgentLine, type Frame, type GuestAgentInfo, type OutputStream } from './frames.ts';

export interface GuestKernel {
  release: string;
  version: string;
}

export interface GuestProcessSpec {
  argv: string[];
  env: { name: string; value: string }[];
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  /** guest path to chroot into (a mounted container root); undefined = the initramfs */
  root?: string;
  stdin: boolean;
  /** a terminal (pty) of this size is the process's stdin/stdout/stderr (needs GuestAgentInfo.tty; 0×0: size unknown yet) */
  tty?: { width: number; height: number };
  rlimits?: { name: 'NOFILE' | 'NPROC' | 'CORE' | 'STACK' | 'AS'; soft: number; hard: number }[];
  /** the guest cgroup the process joins (per container: its stats and limits); absent = the VM's root */
  cgroup?: GuestCgroupSpec;
  /**
   * the key of the container whose termination message file (GuestMountSpec.terminationLog) this
   * process writes: its exit then carries the file's last 4 KiB (a container's own process, not an exec)
   */
  terminationLogOf?: string;
}

/** A container's cgroup v2 in the guest, /sys/fs/cgroup/c/<name> (a guest without cgroups ignores it). */
export interface GuestCgroupSpec {
  name: string;
  memoryMaxBytes?: number;
  cpuMax?: { quotaUs: number; periodUs: number };
  pidsMax?: number;
}

export interface GuestMountSpec {
  /** container key: the guest mounts under /run/c/<key>/ */
  key: string;
  /** SCSI target of the hot-plugged disk, `channel:id:lun` */
  scsiTarget: string;
  fstype: 'ext4' | 'erofs';
  files: { path: string; content: string }[];
  /** the VM's hostname (all containers of the pod share it, as in a pod's UTS namespace) */
  hostname?: string;
  /** guest device of the sandbox disk: the overlay upper goes there instead of a tmpfs */
  writableDisk?: string;
  volumes?: GuestVolume[];
  /** the container's terminationMessagePath: the guest bind-mounts a fresh 0666 file of the container's there */
  terminationLog?: string;
}

export interface GuestAgentEvents {
  /** `offset`: the stream offset of data's first byte (undefined from an older guest, which sends none) */
  output: [id: number, stream: OutputStream, data: Buffer, offset: number | undefined];
  started: [id: number, pid: number];
  /** `message`: the termination message file's end, for a process started with terminationLogOf (an older guest sends none) */
  exit: [id: number, status: number, message: string | undefined];
  close: [];
}

/**
 * How long a connection waits for the guest's hello before it is made again (GuestAgentClient.connect):
 * FIRST_ATTEMPT_MS during the first SHORT_ATTEMPTS_MS, then twice as long each time, up to ATTEMPT_MS.
 */
const FIRST_ATTEMPT_MS = 300;
const SHORT_ATTEMPTS_MS = 3000;
export const ATTEMPT_MS = 1500;

export interface ConnectOptions {
  timeoutMs: number;
  signal: AbortSignal;
  attemptMs?: number;
  /** the hello payload (where each process stream resumes, `encodeResume`), built per attempt */
  hello?: () => Buffer;
  /** called with each attempt's client before its hello is sent: register 'output'/'exit' listeners here */
  attach?: (c: GuestAgentClient) => void;
}

interface Pending {
  resolve: (f: Frame) => void;
  reject: (e: Error) => void;
  expect: number;
}

export class GuestAgentClient extends EventEmitter<GuestAgentEvents> {
  readonly #sock: Socket;
  readonly #pending = new Map<number, Pending>();
  #helloWaiters: ((k: GuestKernel) => void)[] = [];
  #kernel: GuestKernel | undefined;
  #agent: GuestAgentInfo = { version: 1, tty: false };
  readonly #stdinCredit = new Map<number, (n: number) => void>();
  #closed = false;

  private constructor(sock: Socket) {
    super();
    this.#sock = sock;
    const dec = new FrameDecoder();
    sock.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = dec.push(chunk);
      } catch (err) {
        sock.destroy(err as Error);
        return;
      }
      for (const f of frames) this.#onFrame(f);
    });
    sock.on('close', () => {
      this.#closed = true;
      for (const p of this.#pending.values()) p.reject(new HedgeError('Unavailable', 'guest agent connection closed'));
      this.#pending.clear();
      this.emit('close');
    });
    sock.on('error', () => {
      /* surfaced through 'close' */
    });
  }

  /**
   * Connects and waits for the guest's hello (asked for explicitly: after an agent restart the
   * guest is long up). A connection made while the guest boots is sometimes never seen by the
   * guest's virtio-serial port (measured: 1 boot in ~10 waited for the next attempt), so a
   * connection without a hello within `attemptMs` is dropped and made again; that re-sends the
   * port-open event to the guest. The first attempts are short (a lost connection cost a boot a
   * whole attempt: 1.5 s on top of a ~1.4 s TCG boot, the p99 of bench/microvm-boot.ts): a
   * reconnect is cheap, and a guest hello lost with the dropped connection is asked for again by
   * the next one. After SHORT_ATTEMPTS_MS (a quiet host's boot is well within it) they double up
   * to `attemptMs`, so a guest that is up but slow to answer (a loaded host) is not dropped for ever.
   */
  static async connect(path: string, o: ConnectOptions): Promise<GuestAgentClient> {
    const deadline = Date.now() + o.timeoutMs;
    const attemptMs = o.attemptMs ?? ATTEMPT_MS;
    const start = Date.now();
    let next = Math.min(FIRST_ATTEMPT_MS, attemptMs);
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0 || o.signal.aborted) throw new HedgeError('Timeout', `no hello from the guest agent within ${o.timeoutMs} ms`);
      try {
        return await GuestAgentClient.#attempt(path, Math.min(next, left), o);
      } catch (err) {
        if (o.signal.aborted || Date.now() >= deadline) throw err;
        if (!(err instanceof HedgeError && err.code === 'Timeout')) await new Promise((r) => setTimeout(r, 50));
        else if (Date.now() - start >= SHORT_ATTEMPTS_MS) next = Math.min(next * 2, attemptMs);
      }
    }
  }

  static async #attempt(path: string, timeoutMs: number, o: ConnectOptions): Promise<GuestAgentClient> {
    const signal = o.signal;
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    }).catch((err: Error) => {
      throw new HedgeError('Unavailable', `connect guest agent ${path}: ${err.message}`, { cause: err });
    });
    const c = new GuestAgentClient(sock);
    // before the hello: what the guest sends right after its hello (replayed exits, resent output) must find listeners
    o.attach?.(c);
    try {
      c.#send(HostFrame.hello, 0, o.hello?.());
      await c.#waitHello(timeoutMs, signal);
    } catch (err) {
      c.close();
      throw err;
    }
    return c;
  }

  get kernel(): GuestKernel | undefined {
    return this.#kernel;
  }
  /** the guest agent's version and features (from its hello) */
  get agent(): GuestAgentInfo {
    return this.#agent;
  }
  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#sock.destroy();
  }

  #waitHello(timeoutMs: number, signal: AbortSignal): Promise<GuestKernel> {
    if (this.#kernel) return Promise.resolve(this.#kernel);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => done(() => reject(new HedgeError('Timeout', `no hello from the guest agent within ${timeoutMs} ms`))), timeoutMs);
      const onAbort = (): void => done(() => reject(new HedgeError('Timeout', 'aborted waiting for the guest agent', { cause: signal.reason })));
      const onClose = (): void => done(() => reject(new HedgeError('Unavailable', 'guest agent connection closed before hello')));
      const done = (f: () => void): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', onAbort);
        this.off('close', onClose);
        f();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.once('close', onClose);
      this.#helloWaiters.push((k) => done(() => resolve(k)));
    });
  }

  #onFrame(f: Frame): void {
    switch (f.type) {
      case GuestFrame.hello: {
        const [release = '', version = '', agent] = f.payload.toString('utf8').split('\n');
        this.#kernel = { release, version };
        this.#agent = parseAgentLine(agent);
        const w = this.#helloWaiters;
        this.#helloWaiters = [];
        for (const fn of w) fn(this.#kernel);
        return;
      }
      case GuestFrame.stdout:
      case GuestFrame.stderr:
        this.emit('output', f.id, f.type === GuestFrame.stdout ? 'stdout' : 'stderr', f.payload, undefined);
        return;
      case GuestFrame.output: {
        let o: ReturnType<typeof decodeOutput>;
        try {
          o = decodeOutput(f.payload);
        } catch (err) {
          this.#sock.destroy(err as Error);
          return;
        }
        this.emit('output', f.id, o.stream, o.data, o.offset);
        return;
      }
      case GuestFrame.exit:
        this.emit('exit', f.id, f.payload.readUInt32BE(0), f.payload.length > 4 ? f.payload.subarray(4).toString('utf8') : undefined);
        return;
      case GuestFrame.started:
        this.emit('started', f.id, f.payload.readUInt32BE(0));
        this.#settle(f);
        return;
      case GuestFrame.stdinCredit:
        if (f.payload.length >= 4) this.#stdinCredit.get(f.id)?.(f.payload.readUInt32BE(0));
        return;
      case GuestFrame.error:
      case GuestFrame.stats:
      case GuestFrame.mounted:
        this.#settle(f);
        return;
      default:
        return;
    }
  }

  #settle(f: Frame): void {
    const p = this.#pending.get(f.id);
    if (!p) return;
    this.#pending.delete(f.id);
    if (f.type === GuestFrame.error) p.reject(new HedgeError('Internal', `guest agent: ${f.payload.toString('utf8')}`));
    else p.resolve(f);
  }

  #send(type: number, id: number, payload?: Buffer): void {
    if (this.#closed) throw new HedgeError('Unavailable', 'guest agent connection closed');
    this.#sock.write(encodeFrame(type, id, payload));
  }

  #request(type: number, id: number, payload: Buffer, expect: number, o: { timeoutMs: number; signal: AbortSignal }): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => done(() => reject(new HedgeError('Timeout', `guest agent did not answer request ${type} in ${o.timeoutMs} ms`))), o.timeoutMs);
      const onAbort = (): void => done(() => reject(new HedgeError('Timeout', 'guest agent request aborted', { cause: o.signal.reason })));
      const done = (f: () => void): void => {
        clearTimeout(t);
        o.signal.removeEventListener('abort', onAbort);
        this.#pending.delete(id);
        f();
      };
      o.signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, { resolve: (fr) => done(() => resolve(fr)), reject: (e) => done(() => reject(e)), expect });
      try {
        this.#send(type, id, payload);
      } catch (err) {
        done(() => reject(err as Error));
      }
    });
  }

  newId(): number {
    return randomInt(1, 0x7fffffff);
  }

  async mount(m: GuestMountSpec, signal: AbortSignal): Promise<string> {
    const entries: [string, string][] = [
      ['K', m.key],
      ['D', m.scsiTarget],
      ['T', m.fstype],
    ];
    if (m.hostname) entries.push(['H', m.hostname]);
    if (m.writableDisk) entries.push(['W', m.writableDisk]);
    for (const f of m.files) entries.push(['F', f.path], ['B', f.content]);
    for (const v of m.volumes ?? []) entries.push(['V', encodeGuestVolume(v)]);
    if (m.terminationLog) entries.push(['X', m.terminationLog]);
    const r = await this.#request(HostFrame.mount, this.newId(), encodeEntries(entries), GuestFrame.mounted, { timeoutMs: 30_000, signal });
    return r.payload.toString('utf8');
  }

  async umount(key: string, signal: AbortSignal): Promise<void> {
    await this.#request(HostFrame.umount, this.newId(), Buffer.from(key), GuestFrame.mounted, { timeoutMs: 10_000, signal });
  }

  /** Listen for 'output'/'exit' with the id before calling, so nothing is missed. */
  async start(id: number, p: GuestProcessSpec, signal: AbortSignal): Promise<number> {
    const entries: [string, string][] = [
      ...p.argv.map((a): [string, string] => ['A', a]),
      ...p.env.map((e): [string, string] => ['E', `${e.name}=${e.value}`]),
      ['C', p.cwd || '/'],
      ['U', String(p.uid)],
      ['G', String(p.gid)],
      ...p.groups.map((g): [string, string] => ['S', String(g)]),
      ...(p.rlimits ?? []).map((r): [string, string] => ['L', `${r.name}=${r.soft}:${r.hard}`]),
    ];
    if (p.root) entries.push(['R', p.root]);
    if (p.stdin) entries.push(['I', '1']);
    if (p.tty) entries.push(['Y', `${p.tty.width} ${p.tty.height}`]);
    if (p.terminationLogOf) entries.push(['T', p.terminationLogOf]);
    if (p.cgroup) {
      const g = p.cgroup;
      entries.push(['Q', g.name]);
      if (g.memoryMaxBytes !== undefined) entries.push(['M', String(g.memoryMaxBytes)]);
      if (g.cpuMax) entries.push(['P', `${g.cpuMax.quotaUs} ${g.cpuMax.periodUs}`]);
      if (g.pidsMax !== undefined) entries.push(['N', String(g.pidsMax)]);
    }
    const r = await this.#request(HostFrame.start, id, encodeEntries(entries), GuestFrame.started, { timeoutMs: 30_000, signal });
    return r.payload.readUInt32BE(0);
  }

  /** raw stdin bytes (null = EOF); GuestStdin keeps to the guest's window */
  stdin(id: number, data: Buffer | null): void {
    this.#send(HostFrame.stdin, id, data ?? Buffer.alloc(0));
  }

  /** `fn` gets the guest's stdin credits for process `id` (one listener per process); returns the unsubscribe */
  onStdinCredit(id: number, fn: (n: number) => void): () => void {
    this.#stdinCredit.set(id, fn);
    return () => {
      if (this.#stdinCredit.get(id) === fn) this.#stdinCredit.delete(id);
    };
  }

  /** the terminal size of a process started with `tty` */
  resize(id: number, size: { width: number; height: number }): void {
    this.#send(HostFrame.resize, id, encodeResize(size));
  }

  /** the host's log holds the stream up to `offset`: the guest may drop it from its buffer */
  ack(id: number, stream: OutputStream, offset: number): void {
    if (!this.#closed) this.#send(HostFrame.ack, id, encodeAck(stream, offset));
  }

  kill(id: number, sig: number): void {
    this.#send(HostFrame.signal, id, Buffer.from([sig]));
  }

  /** the exit is recorded on the host: the guest may drop the process slot */
  forget(id: number): void {
    if (!this.#closed) this.#send(HostFrame.signal, id, Buffer.from([0]));
  }

  async stats(signal: AbortSignal): Promise<string> {
    const r = await this.#request(HostFrame.stats, this.newId(), Buffer.alloc(0), GuestFrame.stats, { timeoutMs: 10_000, signal });
    return r.payload.toString('utf8');
  }
}
