/**
 * The host half of the exactly-once output protocol, against a guest speaking it over a real unix
 * socket (the guest's side in a few lines: a stream, what the host acknowledged, resend from the
 * hello's resume offset). The node restart is a GuestRouter closed mid-stream and a new one on the
 * same state files; the transport losing what it had in flight is the guest not delivering bytes
 * it counted as sent (what the node's unread socket queue did, src/guest/README.md).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { silentLogger } from '../../../lib/log.ts';
import { parseCriLine } from '../../logs/cri-log.ts';
import { containerConfig } from '../oci/test-support.ts';
import { encodeFrame, encodeOutput, FrameDecoder, GuestFrame, HostFrame } from './frames.ts';
import { GuestRouter } from './guest-routes.ts';
import { MicroVmStateFiles, type VmState } from './state-files.ts';

const tmp = mkdtempSync(join(tmpdir(), 'hedge-routes-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** one guest process (id 42) with a stdout stream; bytes before `acked` are freed */
class ScriptedGuest {
  readonly server: Server;
  sock: Socket | undefined;
  acked = 0;
  resumes: number[] = [];
  constructor(readonly path: string, readonly stream: Buffer) {
    this.server = createServer((s) => {
      this.sock = s;
      const dec = new FrameDecoder();
      s.on('data', (d: Buffer) => {
        for (const f of dec.push(d)) {
          if (f.type === HostFrame.hello) {
            for (let o = 0; o + 13 <= f.payload.length; o += 13) {
              if (f.payload.readUInt32BE(o) === 42 && f.payload[o + 4] === 1) {
                const at = Number(f.payload.readBigUInt64BE(o + 5));
                this.resumes.push(at);
                this.acked = Math.max(this.acked, at);
              }
            }
            s.write(encodeFrame(GuestFrame.hello, 0, Buffer.from('6.1.0-test\n#1')));
          } else if (f.type === HostFrame.ack && f.id === 42 && f.payload[0] === 1) {
            this.acked = Math.max(this.acked, Number(f.payload.readBigUInt64BE(1)));
          }
        }
      });
      s.on('error', () => undefined);
    });
    this.server.listen(path);
  }
  /** sends stream bytes [from, to) in frames of `chunk` bytes */
  send(from: number, to: number, chunk = 1000): void {
    for (let o = from; o < to; o += chunk) this.sock!.write(encodeFrame(GuestFrame.output, 42, encodeOutput('stdout', o, this.stream.subarray(o, Math.min(to, o + chunk)))));
  }
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (const t = Date.now(); !cond(); await new Promise((r) => setTimeout(r, 5))) if (Date.now() - t > 5000) throw new Error(`timed out: ${what}`);
}

test('output survives a host restart with bytes in flight: every line once, in order; acks follow the log', async () => {
  const files = new MicroVmStateFiles(join(tmp, 'state'));
  const logPath = join(tmp, 'logs', 'c1.log');
  const cfg = containerConfig({ id: 'c1', sandboxId: 's1', rootfs: '/', command: ['x'], logPath });
  mkdirSync(files.containerDir(cfg.id), { recursive: true });
  await files.writeMeta({ config: cfg, createdAt: new Date().toISOString(), scsiId: 1, guestRoot: '/r', procId: 42 });
  const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}\n`);
  const stream = Buffer.from(lines.join(''));
  const g = new ScriptedGuest(join(tmp, 'agent.sock'), stream);
  const v = { config: { id: 's1' }, agentSocket: g.path } as VmState;
  const sig = AbortSignal.timeout(10_000);

  let router = new GuestRouter(files, silentLogger());
  await router.client(v, sig);
  assert.deepEqual(g.resumes, [0], 'a container with no log yet starts at 0');
  // the first third arrives; the batch ends inside a line
  const a = Math.floor(stream.length / 3);
  g.send(0, a, 777);
  const logged = stream.subarray(0, a).lastIndexOf(0x0a) + 1;
  await until('the first batch acknowledged', () => g.acked === logged);
  assert.deepEqual(files.readLogOffsets(cfg.id), { stdout: logged, stderr: 0 });
  // the next third is "sent" but the host stops before taking it (what sat in its socket queue)
  const b = Math.floor((2 * stream.length) / 3);
  await router.close();

  router = new GuestRouter(files, silentLogger());
  await router.client(v, sig);
  assert.deepEqual(g.resumes, [0, logged], 'the new host resumes where its log got');
  // the guest resends from there, and a stale frame of the old connection overlaps it
  g.send(logged - 10, b);
  g.send(logged, stream.length, 4096);
  await until('everything acknowledged', () => g.acked === stream.length);
  const got = readFileSync(logPath, 'utf8').trimEnd().split('\n').map((l) => parseCriLine(l)?.message);
  assert.equal(got.length, lines.length);
  assert.deepEqual(got, lines.map((l) => l.slice(0, -1)));
  assert.deepEqual(files.readLogOffsets(cfg.id), { stdout: stream.length, stderr: 0 });
  await router.close();
  g.server.close();
});

test('log offsets are rewritten in place and read back; a missing or torn record reads as absent', async () => {
  const files = new MicroVmStateFiles(join(tmp, 'state2'));
  mkdirSync(files.containerDir('c9'), { recursive: true });
  assert.equal(files.readLogOffsets('c9' as never), undefined);
  files.writeLogOffsets('c9' as never, { stdout: 123456789012, stderr: 7 });
  files.writeLogOffsets('c9' as never, { stdout: 5, stderr: 6 });
  assert.deepEqual(files.readLogOffsets('c9' as never), { stdout: 5, stderr: 6 });
  assert.equal(readFileSync(join(files.containerDir('c9'), 'log-offsets'), 'utf8').length, 64);
  assert.throws(() => files.writeLogOffsets('gone' as never, { stdout: 1, stderr: 1 }));
});
