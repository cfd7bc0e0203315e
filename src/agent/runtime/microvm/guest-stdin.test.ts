/**
 * The host half of the terminal and stdin protocol (src/guest/README.md): the agent line of the
 * guest's hello (version, features), the stdin window (GuestStdin against a fake port of our own
 * seam), and a GuestAgentClient against a guest over a real unix socket: an older guest's tty is
 * refused naming its version, a newer one's credits and resizes go where they belong.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { GuestAgentClient } from './agent-client.ts';
import { requireTerminal } from './exec.ts';
import { encodeFrame, encodeResize, FrameDecoder, GuestFrame, HostFrame, parseAgentLine, type Frame, type GuestAgentInfo } from './frames.ts';
import { GuestStdin, STDIN_CHUNK, type StdinPort } from './guest-stdin.ts';

const tmp = mkdtempSync(join(tmpdir(), 'hedge-stdin-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** records what GuestStdin sends; `credit` plays the guest's G_STDIN_CREDIT */
class FakePort implements StdinPort {
  sent: (Buffer | null)[] = [];
  closed = false;
  #credit: ((n: number) => void) | undefined;
  constructor(readonly agent: GuestAgentInfo) {}
  stdin(_id: number, data: Buffer | null): void {
    this.sent.push(data);
  }
  onStdinCredit(_id: number, fn: (n: number) => void): () => void {
    this.#credit = fn;
    return () => (this.#credit = undefined);
  }
  credit(n: number): void {
    this.#credit?.(n);
  }
  get bytes(): number {
    return this.sent.reduce((n, b) => n + (b?.length ?? 0), 0);
  }
}

test('the agent line of the hello: version and features; a guest without it is version 1 with none', () => {
  assert.deepEqual(parseAgentLine(undefined), { version: 1, tty: false });
  assert.deepEqual(parseAgentLine('#1 SMP PREEMPT_DYNAMIC'), { version: 1, tty: false });
  assert.deepEqual(parseAgentLine('agent 2 tty stdin-window=65536'), { version: 2, tty: true, stdinWindow: 65536 });
  assert.deepEqual(parseAgentLine('agent 3 stdin-window=x future'), { version: 3, tty: false });
  assert.deepEqual([...encodeResize({ width: 100, height: 30 })], [0, 100, 0, 30]);
});

test('stdin keeps to the guest\'s window: what is over it waits for credit, EOF goes after the last byte', () => {
  const port = new FakePort({ version: 2, tty: true, stdinWindow: 100 });
  const s = new GuestStdin(port, 7);
  assert.equal(s.write(Buffer.alloc(250, 1)), false, 'over the window: the caller must wait');
  assert.equal(port.bytes, 100);
  assert.equal(s.queued, 150);
  s.end();
  assert.equal(port.sent.includes(null), false, 'no EOF before the queued bytes');
  port.credit(60);
  assert.equal(port.bytes, 160);
  port.credit(100);
  assert.equal(port.bytes, 250);
  assert.equal(port.sent.at(-1), null, 'EOF once everything went out');
  assert.equal(s.write(Buffer.from('late')), true);
  assert.equal(port.bytes, 250, 'nothing after EOF');
});

test('frames stay within one guest write; an older guest (no window) gets the bytes as they come', () => {
  const port = new FakePort({ version: 1, tty: false });
  const s = new GuestStdin(port, 7);
  assert.equal(s.write(Buffer.alloc(3 * STDIN_CHUNK + 5)), true);
  assert.deepEqual(port.sent.map((b) => b?.length), [STDIN_CHUNK, STDIN_CHUNK, STDIN_CHUNK, 5]);
});

test('feed pauses its source while the window is full and resumes on credit; the source\'s end is EOF when asked', async () => {
  const port = new FakePort({ version: 2, tty: true, stdinWindow: 1000 });
  const s = new GuestStdin(port, 7);
  const src = new PassThrough();
  const fed = s.feed(src, { signal: AbortSignal.timeout(5000), endAtEnd: true });
  src.write(Buffer.alloc(1500));
  await new Promise((r) => setImmediate(r));
  assert.equal(port.bytes, 1000);
  assert.ok(src.isPaused(), 'paused at the window');
  port.credit(1000);
  await new Promise((r) => setImmediate(r));
  assert.equal(port.bytes, 1500);
  assert.ok(!src.isPaused(), 'resumed');
  src.end();
  await fed;
  assert.equal(port.sent.at(-1), null);
});

/** a guest over a unix socket whose hello has `agentLine` (or none: an older guest); records host frames */
async function fakeGuest(name: string, agentLine: string | undefined): Promise<{ path: string; frames: Frame[]; sock: () => Socket | undefined; close: () => void }> {
  const path = join(tmp, name);
  const frames: Frame[] = [];
  let sock: Socket | undefined;
  const server = createServer((s) => {
    sock = s;
    const dec = new FrameDecoder();
    s.on('data', (d: Buffer) => {
      for (const f of dec.push(d)) {
        frames.push(f);
        if (f.type === HostFrame.hello) s.write(encodeFrame(GuestFrame.hello, 0, Buffer.from(['6.1.0-test', '#1', ...(agentLine ? [agentLine] : [])].join('\n'))));
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, frames, sock: () => sock, close: () => server.close() };
}

test('an older guest: tty is refused naming its agent version, stdin has no window', async () => {
  const g = await fakeGuest('old.sock', undefined);
  const c = await GuestAgentClient.connect(g.path, { timeoutMs: 5000, signal: AbortSignal.timeout(5000) });
  try {
    assert.deepEqual(c.agent, { version: 1, tty: false });
    assert.throws(() => requireTerminal(c, 'exec in c1'), /exec in c1: the pod's guest agent is version 1, which has no terminals/);
  } finally {
    c.close();
    g.close();
  }
});

test('a current guest: credits reach the process\'s stdin, resizes go out as H_RESIZE', async () => {
  const g = await fakeGuest('new.sock', 'agent 2 tty stdin-window=64');
  const c = await GuestAgentClient.connect(g.path, { timeoutMs: 5000, signal: AbortSignal.timeout(5000) });
  try {
    assert.deepEqual(c.agent, { version: 2, tty: true, stdinWindow: 64 });
    requireTerminal(c, 'exec');
    const s = new GuestStdin(c, 5);
    s.write(Buffer.alloc(100, 0x61));
    c.resize(5, { width: 132, height: 43 });
    const stdinBytes = (): number => g.frames.filter((f) => f.type === HostFrame.stdin && f.id === 5).reduce((n, f) => n + f.payload.length, 0);
    await until(() => stdinBytes() === 64 && g.frames.some((f) => f.type === HostFrame.resize));
    assert.deepEqual([...g.frames.find((f) => f.type === HostFrame.resize)!.payload], [0, 132, 0, 43]);
    const credit = Buffer.alloc(4);
    credit.writeUInt32BE(36);
    g.sock()!.write(encodeFrame(GuestFrame.stdinCredit, 5, credit));
    await until(() => stdinBytes() === 100);
    s.close();
  } finally {
    c.close();
    g.close();
  }
});

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
