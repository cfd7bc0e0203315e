/**
 * Terminals and stdin in a real microVM (one VM for every case; TCG boots in seconds): tty exec
 * with a guest pty and its resizes, exec -i through the guest's stdin window (more than the window,
 * and a process that never reads, which must not stall the agent), and a container's own stdin and
 * terminal through attach sessions (stdinOnce). Skips as microvm-handler.test.ts does.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../../lib/log.ts';
import { pidExists } from '../../host/process.ts';
import { parseCriLine } from '../../logs/cri-log.ts';
import { TerminalSizeFeed } from '../../server/stream-channels.ts';
import { containerConfig, makeBusyboxRootfs, sandboxConfig } from '../oci/test-support.ts';
import type { ContainerConfig, ContainerId, SandboxId } from '../types.ts';
import { buildGuest } from './guest-artifacts.ts';
import { MicroVmRuntimeHandler } from './microvm-handler.ts';
import { microvmSkipReason } from './testing/host.ts';

const sig = (ms = 60_000): AbortSignal => AbortSignal.timeout(ms);

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let t = '';
  stream.on('data', (d: Buffer) => (t += d.toString()));
  return { stream, text: () => t };
}

describe('microVM terminals and stdin (real qemu microVM)', { skip: microvmSkipReason(), concurrency: false }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'hedge-mvm-tty-'));
  const rootfs = makeBusyboxRootfs(join(tmp, 'rootfs'));
  const sid = 'sb-mvm-tty' as SandboxId;
  const cgroupParent = `hedge-mvm-tty-${process.pid}/pod1`;
  let h: MicroVmRuntimeHandler;
  let qemuPid = 0;
  const container = (id: string, command: string[], more: Partial<ContainerConfig> = {}): ContainerConfig => ({
    ...containerConfig({ id, sandboxId: sid, rootfs, command, logPath: join(tmp, 'logs', `${id}.log`) }),
    ...more,
  });
  const run = async (c: ContainerConfig): Promise<void> => {
    await h.createContainer(c, sig());
    await h.start(c.id, sig());
  };
  const exitOf = (id: ContainerId): Promise<number> =>
    waitFor(`${id} exit`, async () => {
      const s = (await h.status(id, sig())).status;
      return s.state === 'exited' ? s.exitCode : undefined;
    });

  before(async () => {
    const guest = await buildGuest({ outRoot: join(tmpdir(), 'hedge-guest-cache'), signal: sig(300_000) });
    h = new MicroVmRuntimeHandler({ stateDir: join(tmp, 'state'), guest, logger: silentLogger(), accelerator: 'auto', memoryOverheadMiB: 32, defaultMemoryMiB: 96 });
    const info = await h.createSandbox(sandboxConfig({ id: sid, stateDir: join(tmp, 'pod', 'sandbox'), cgroupParent }), sig(120_000));
    qemuPid = info.pid ?? 0;
    await run(container('idle', ['sleep', '3600']));
  });

  after(async () => {
    await h?.removeSandbox(sid, sig()).catch(() => undefined);
    if (qemuPid && pidExists(qemuPid)) process.kill(qemuPid, 'SIGKILL');
    execFileSync('sh', ['-c', `for c in cpu cpuacct memory pids blkio; do rmdir /sys/fs/cgroup/$c/${cgroupParent} /sys/fs/cgroup/$c/${cgroupParent.split('/')[0]} 2>/dev/null; done; true`]);
    rmSync(tmp, { recursive: true, force: true });
  });

  test('exec -it: a shell on a guest pty (/dev/pts/N), sized and resized from the resize channel, exit code returned', async () => {
    const stdin = new PassThrough();
    const out = collect();
    const sizes = new TerminalSizeFeed();
    sizes.push({ width: 100, height: 30 });
    const done = h.exec('idle' as ContainerId, { command: ['sh'], tty: true, terminalSizes: sizes, stdin, stdout: out.stream, signal: sig() });
    stdin.write('busybox tty; stty size; echo "[$(id -u)]"\n');
    await waitFor('tty and size', () => /\/dev\/pts\/\d+\r?\n30 100\r?\n\[0\]/.test(out.text()) || undefined, 30_000).catch((e: Error) => assert.fail(`${e.message}: ${JSON.stringify(out.text())}`));
    sizes.push({ width: 120, height: 40 });
    await new Promise((r) => setTimeout(r, 200));
    stdin.write('stty size; exit 7\n');
    assert.equal(await done, 7, out.text());
    assert.match(out.text(), /40 120/);
  });

  test('exec -i: 1 MiB through wc -c, far more than the guest\'s stdin window (the host waits for credit)', async () => {
    const stdin = new PassThrough();
    const out = collect();
    const done = h.exec('idle' as ContainerId, { command: ['wc', '-c'], tty: false, stdin, stdout: out.stream, signal: sig(120_000) });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 16; i++) stdin.write(chunk);
    stdin.end();
    assert.equal(await done, 0);
    assert.equal(out.text().trim(), String(1 << 20));
  });

  test('a process that never reads its stdin holds up its sender, not the guest agent', async () => {
    const stdin = new PassThrough();
    const ac = new AbortController();
    const blocked = h.exec('idle' as ContainerId, { command: ['sleep', '3600'], tty: false, stdin, signal: ac.signal });
    for (let i = 0; i < 16; i++) stdin.write(Buffer.alloc(64 * 1024, 'y'));
    // the host keeps what the window does not allow: the source is paused with bytes still in it
    await waitFor('the source paused', () => (stdin.isPaused() ? true : undefined), 20_000);
    // meanwhile the agent serves other requests
    const o = collect();
    assert.equal(await h.exec('idle' as ContainerId, { command: ['echo', 'still serving'], tty: false, stdout: o.stream, signal: sig() }), 0);
    assert.equal(o.text(), 'still serving\n');
    ac.abort();
    await assert.rejects(blocked, /aborted/);
  });

  test('a container\'s own stdin and terminal (stdin, stdinOnce, tty): attach -it writes it, resizes it, and the session ends at the exit', async () => {
    const c = container('tty', ['sh', '-c', 'busybox tty; read x; while [ "$(stty size)" = "0 0" ]; do sleep 0.1; done; echo "size $(stty size) got $x"'], { tty: true, stdin: { once: true } });
    await run(c);
    const stdin = new PassThrough();
    const out = collect();
    const session = h.attach(c.id, { stdin, stdout: out.stream, signal: sig() });
    stdin.write('hi\n');
    await h.resizeTerminal(c.id, { width: 100, height: 30 }, sig());
    await session;
    assert.match(out.text(), /size 30 100 got hi/);
    assert.equal(await exitOf(c.id), 0);
    // the log has the terminal's output too (all on stdout: the echo of what was typed, then the pts name)
    const log = readFileSync(c.logPath, 'utf8').trimEnd().split('\n').map((l) => parseCriLine(l));
    assert.ok(log.every((l) => l?.stream === 'stdout'), 'a terminal has one stream');
    assert.match(log.map((l) => l?.message).join('\n'), /^\/dev\/pts\/\d+\r?$/m);
  });

  test('stdinOnce without a terminal: the first session\'s end is the process\'s EOF (kubectl run -i)', async () => {
    const c = container('cat', ['cat'], { stdin: { once: true } });
    await run(c);
    const stdin = new PassThrough();
    const out = collect();
    const session = h.attach(c.id, { stdin, stdout: out.stream, stderr: out.stream, signal: sig() });
    stdin.end('hello through stdin\n');
    await session;
    assert.equal(out.text(), 'hello through stdin\n');
    assert.equal(await exitOf(c.id), 0);
  });

  test('stdin without stdinOnce stays open across sessions', async () => {
    const c = container('kept', ['sh', '-c', 'read a; read b; echo "$a+$b"'], { stdin: { once: false } });
    await run(c);
    const first = new PassThrough();
    const ac = new AbortController();
    const s1 = h.attach(c.id, { stdin: first, signal: ac.signal });
    first.write('one\n');
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await s1;
    assert.equal((await h.status(c.id, sig())).status.state, 'running', 'the end of a session did not close stdin');
    const second = new PassThrough();
    const out = collect();
    const s2 = h.attach(c.id, { stdin: second, stdout: out.stream, signal: sig() });
    second.write('two\n');
    await s2;
    assert.equal(out.text(), 'one+two\n');
  });
});
