/**
 * A small long-lived helper process that runs the pod start path's host commands instead of the
 * agent. Node's `spawn` forks the whole agent on its main thread (~5 ms of the agent's CPU per
 * command at 50–80 MB RSS, measured in docs/host-notes.md), and mount(8) is a process of its own
 * for what is one mount(2) call. The helper is perl (Debian's essential perl-base, so on every
 * node): each request is a fork of a ~5 MB process, and an overlay mount is a `syscall` in it.
 *
 * Protocol: one request per line on the helper's stdin, fields NUL-separated, an id first; each
 * request is served by its own forked child, so a slow one (conmon waiting for `runc create`)
 * does not hold the others. Answers are lines of < PIPE_BUF bytes, each one `syswrite`, so lines
 * from concurrent children never interleave; output travels hex-encoded in chunks.
 *   `id M source target fstype flags data`   → `id M errno message`
 *   `id R nenv k=v... sync clear-env input-hex has-input cmd args...`
 *                                             → `id P pid` (started), then `id O|E|S hex` lines (stdout,
 *                                               stderr, fd-3 text, in chunks), then `id X code`
 *   `id K`                                    → the request's child kills its command and exits
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { arch } from 'node:os';
import { HedgeError } from '../../lib/errors.ts';
import type { RunResult } from './run-command.ts';

const PERL = '/usr/bin/perl';
/** mount(2)'s number per architecture (the helper makes the raw syscall) */
const SYS_MOUNT: Partial<Record<string, number>> = { x64: 165, arm64: 40, riscv64: 40, arm: 21, ia32: 21 };
/** raw bytes per answer line: hex-encoded with its header, under PIPE_BUF (4096) */
const CHUNK = 1900;
/** stdin a request may carry: written to the command's pipe at once, so within its buffer */
export const SPAWNER_MAX_INPUT = 60_000;
const DEFAULT_TIMEOUT_MS = 60_000;

const SCRIPT = String.raw`
use strict; use warnings; use POSIX ();
my $SYS_mount = $ARGV[0]; my $CHUNK = $ARGV[1];
binmode STDIN; binmode STDOUT;
my %kid; my %idof;
sub answer { my $m = join("\0", @_) . "\n"; syswrite(STDOUT, $m) }
sub hex_of { return unpack('H*', $_[0]) }
# a stream in lines of < PIPE_BUF bytes, each written at once: concurrent children's lines never interleave
sub stream { my ($id, $tag, $s) = @_; for (my $o = 0; $o < length($s); $o += $CHUNK) { answer($id, $tag, hex_of(substr($s, $o, $CHUNK))) } }
sub fail_run { my ($id, $msg) = @_; stream($id, 'E', $msg); answer($id, 'X', 127) }
sub reap { while ((my $p = waitpid(-1, POSIX::WNOHANG())) > 0) { my $id = delete $idof{$p}; delete $kid{$id} if defined $id } }
sub serve_mount {
  my ($id, $src, $target, $fstype, $flags, $data) = @_;
  my $r = syscall($SYS_mount, $src, $target, $fstype, $flags + 0, $data);
  answer($id, 'M', $r == 0 ? 0 : ($! + 0), $r == 0 ? '' : "$!");
}
sub serve_run {
  my ($id, @f) = @_;
  my $nenv = shift @f; my @env = splice(@f, 0, $nenv); my $sync = shift @f; my $clear = shift @f; my $input = pack('H*', shift @f); my $hasin = shift @f; my ($cmd, @args) = @f;
  pipe(my $or, my $ow) or return fail_run($id, "pipe: $!");
  pipe(my $er, my $ew) or return fail_run($id, "pipe: $!");
  my ($sr, $sw); if ($sync) { pipe($sr, $sw) or return fail_run($id, "pipe: $!") }
  my ($ir, $iw); if ($hasin) { pipe($ir, $iw) or return fail_run($id, "pipe: $!") }
  pipe(my $cr, my $cw) or return fail_run($id, "pipe: $!");
  $SIG{CHLD} = sub { syswrite($cw, 'x') };
  my $pid = fork();
  if (!defined $pid) { return fail_run($id, "fork: $!") }
  if ($pid == 0) {
    $SIG{CHLD} = 'DEFAULT'; $SIG{TERM} = 'DEFAULT';
    if ($hasin) { POSIX::dup2(fileno($ir), 0) } else { open(STDIN, '<', '/dev/null') }
    POSIX::dup2(fileno($ow), 1); POSIX::dup2(fileno($ew), 2);
    POSIX::dup2(fileno($sw), 3) if $sync;
    %ENV = () if $clear;
    for my $kv (@env) { my $i = index($kv, '='); $ENV{substr($kv, 0, $i)} = substr($kv, $i + 1) }
    { no warnings 'exec'; exec { $cmd } $cmd, @args; }
    syswrite(STDERR, "cannot run $cmd: $!"); POSIX::_exit(127);
  }
  $SIG{TERM} = sub { kill 'KILL', $pid; POSIX::_exit(1) };
  close $ow; close $ew; close $sw if $sync;
  answer($id, 'P', $pid);
  # the input fits the pipe (the agent sends at most 60,000 bytes): written at once, then EOF
  if ($hasin) { close $ir; local $SIG{PIPE} = 'IGNORE'; syswrite($iw, $input) if length $input; close $iw }
  my %buf = (out => '', err => '');
  my %open = (fileno($or) => [$or, 'out'], fileno($er) => [$er, 'err']);
  my $status;
  while (1) {
    my $w = waitpid($pid, POSIX::WNOHANG());
    if ($w == $pid) { $status = $?; last }
    my $rin = ''; vec($rin, fileno($cr), 1) = 1; vec($rin, $_, 1) = 1 for keys %open;
    my $n = select(my $rout = $rin, undef, undef, undef);
    next if $n <= 0;
    if (vec($rout, fileno($cr), 1)) { sysread($cr, my $x, 64) }
    for my $fd (keys %open) {
      next unless vec($rout, $fd, 1);
      my $got = sysread($open{$fd}[0], my $b, 65536);
      if (!$got) { delete $open{$fd} } else { $buf{$open{$fd}[1]} .= $b }
    }
  }
  # what the command wrote before it exited (a daemonized grandchild may hold the pipes open)
  for my $fd (keys %open) {
    my $rin = ''; vec($rin, $fd, 1) = 1;
    while (select(my $rout = $rin, undef, undef, 0) > 0) { my $got = sysread($open{$fd}[0], my $b, 65536); last if !$got; $buf{$open{$fd}[1]} .= $b }
  }
  my $code = ($status & 127) ? 128 : ($status >> 8);
  my $synced = '';
  if ($sync) { while (index($synced, '}') < 0) { my $got = sysread($sr, my $b, 4096); last if !$got; $synced .= $b } }
  stream($id, 'O', $buf{out}); stream($id, 'E', $buf{err}); stream($id, 'S', $synced);
  answer($id, 'X', $code);
}
while (defined(my $line = <STDIN>)) {
  chomp $line;
  my ($id, $op, @f) = split(/\0/, $line, -1);
  reap();
  if ($op eq 'K') { kill 'TERM', $kid{$id} if $kid{$id}; next }
  my $pid = fork();
  if (!defined $pid) { if ($op eq 'M') { answer($id, 'M', 12, "fork: $!") } else { fail_run($id, "fork: $!") } next }
  if ($pid) { $kid{$id} = $pid; $idof{$pid} = $id; next }
  open(STDIN, '<', '/dev/null');
  if ($op eq 'M') { serve_mount($id, @f) } else { serve_run($id, @f) }
  POSIX::_exit(0);
}
`;

export interface SpawnerRunOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** added to the helper's environment (the agent's, as it was when the helper started) */
  env?: Record<string, string>;
  /** the command gets `env` only, not the helper's environment beside it */
  replaceEnv?: boolean;
  /** give the command a pipe on fd 3 and answer what it wrote there up to the first `}` (conmon's sync pipe) */
  syncPipe?: boolean;
  /** written to stdin, then stdin is closed (at most SPAWNER_MAX_INPUT bytes); without it stdin is /dev/null */
  input?: string;
}

export interface SpawnerRunResult extends RunResult {
  /** what the command wrote on fd 3 (syncPipe) */
  sync: string;
}

interface Pending {
  onLine: (f: string[]) => void;
  fail: (e: Error) => void;
}

/**
 * The helper, started on first use. `available` is false where it cannot run (no perl, an
 * architecture without a known mount(2) number) or after it died: callers then run the command
 * themselves, as before.
 */
export class Spawner {
  #child: ChildProcess | undefined;
  #dead = false;
  #nextId = 0;
  #buf = '';
  readonly #pending = new Map<string, Pending>();
  readonly #sysMount = SYS_MOUNT[arch()];

  #perl: boolean | undefined;

  get available(): boolean {
    this.#perl ??= existsSync(PERL);
    return !this.#dead && this.#sysMount !== undefined && this.#perl;
  }

  #helper(): ChildProcess {
    if (this.#child) return this.#child;
    const child = spawn(PERL, ['-e', SCRIPT, String(this.#sysMount), String(CHUNK)], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.stdout!.setEncoding('latin1');
    child.stdout!.on('data', (d: string) => this.#read(d));
    child.stdin!.on('error', () => {});
    const died = (why: string): void => {
      this.#dead = true;
      this.#child = undefined;
      for (const p of this.#pending.values()) p.fail(new HedgeError('Internal', `spawner: ${why}`));
      this.#pending.clear();
    };
    child.on('error', (e) => died(e.message));
    child.on('exit', (code, sig) => died(`exited ${code ?? sig}`));
    // the helper must not keep the agent alive while idle (#idle), nor outlive it (its stdin closes with the agent)
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    this.#child = child;
    return child;
  }

  /** an answer still to come keeps the event loop alive; an idle helper does not */
  #ref(on: boolean): void {
    const out = this.#child?.stdout as unknown as { ref?: () => void; unref?: () => void } | undefined;
    if (on) out?.ref?.();
    else out?.unref?.();
  }

  #done(id: string): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#ref(false);
  }

  #read(d: string): void {
    this.#buf += d;
    for (let nl = this.#buf.indexOf('\n'); nl >= 0; nl = this.#buf.indexOf('\n')) {
      const f = this.#buf.slice(0, nl).split('\0');
      this.#buf = this.#buf.slice(nl + 1);
      this.#pending.get(f[0]!)?.onLine(f.slice(1));
    }
  }

  #request(fields: string[], p: Pending): string {
    if (fields.some((f) => f.includes('\0') || f.includes('\n'))) throw new HedgeError('Invalid', 'spawner: a field holds a NUL or newline');
    const id = String(++this.#nextId);
    this.#pending.set(id, p);
    const helper = this.#helper();
    this.#ref(true);
    // the helper reads bytes: a UTF-8 path must reach it as UTF-8
    helper.stdin!.write(Buffer.from([id, ...fields].join('\0') + '\n', 'utf8'));
    return id;
  }

  /** one mount(2) call (what `mount -t fstype -o data source target` does when data holds no flag option) */
  mount(m: { source: string; target: string; fstype: string; data: string }, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new HedgeError('Timeout', `mount ${m.target}: aborted`, { cause: signal.reason }));
      const id = this.#request(['M', m.source, m.target, m.fstype, '0', m.data], {
        onLine: ([, errno, msg]) => {
          this.#done(id);
          if (errno === '0') resolve();
          else reject(new HedgeError('Internal', `mount -t ${m.fstype} -o ${m.data} ${m.source} ${m.target}: ${Buffer.from(msg ?? '', 'latin1').toString('utf8')}`));
        },
        fail: reject,
      });
    });
  }

  /** runs `cmd args` to its exit (not its pipes' end: conmon daemonizes), as run-command.ts's `settleOnExit` */
  run(cmd: string, args: readonly string[], opts: SpawnerRunOptions = {}): Promise<SpawnerRunResult> {
    const { signal } = opts;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(commandAborted(cmd, args, signal));
      const since = performance.now();
      let pid = 0;
      let settled = false;
      const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
      const finish = (e: Error | undefined, r?: SpawnerRunResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#done(id);
        if (e) reject(e);
        else resolve(r!);
      };
      const input = opts.input === undefined ? undefined : Buffer.from(opts.input, 'utf8');
      if (input && input.length > SPAWNER_MAX_INPUT) throw new HedgeError('Invalid', `spawner: input of ${input.length} bytes (at most ${SPAWNER_MAX_INPUT})`);
      const chunks: Record<string, string[]> = { O: [], E: [], S: [] };
      const id = this.#request(['R', String(env.length), ...env, opts.syncPipe ? '1' : '0', opts.replaceEnv ? '1' : '0', input?.toString('hex') ?? '', input ? '1' : '0', cmd, ...args], {
        onLine: (f) => {
          const tag = f[0]!;
          if (tag === 'P') pid = Number(f[1]);
          else if (tag in chunks) chunks[tag]!.push(f[1] ?? '');
          else {
            const text = (t: string): string => Buffer.from(chunks[t]!.join(''), 'hex').toString('utf8');
            finish(undefined, { code: Number(f[1]), stdout: text('O'), stderr: text('E'), sync: text('S') });
          }
        },
        fail: (e) => finish(e),
      });
      const kill = (): void => {
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
        this.#child?.stdin?.write(`${id}\0K\n`);
      };
      const timer = setTimeout(() => {
        kill();
        finish(new HedgeError('Timeout', `${cmd} ${args.join(' ')}: timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const onAbort = (): void => {
        kill();
        if (signal) finish(commandAborted(cmd, args, signal, { sinceMs: since, started: pid > 0 }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** stops the helper (its children finish what they run) */
  close(): void {
    this.#child?.stdin?.end();
    this.#child = undefined;
    this.#dead = true;
  }
}

/**
 * A command's abort as an error (HedgeError Timeout, the signal's reason as its cause) that says
 * which command, how long it had run, and, when known, whether it ever started: a command the
 * spawner's helper never reported started was waiting for the helper, not the kernel.
 */
export function commandAborted(cmd: string, args: readonly string[], signal: AbortSignal, o: { sinceMs?: number; started?: boolean } = {}): HedgeError {
  const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
  const line = [cmd, ...args].join(' ');
  const shown = line.length > 200 ? `${line.slice(0, 200)}…` : line;
  const ran = o.sinceMs === undefined ? '' : ` after ${Math.round(performance.now() - o.sinceMs)} ms${o.started === false ? ', never started by the spawner' : ''}`;
  return new HedgeError('Timeout', `${shown}: aborted${ran}: ${why}`, { cause: signal.reason });
}
