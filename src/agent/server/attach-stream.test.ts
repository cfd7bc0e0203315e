import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { silentLogger } from '../../lib/log.ts';
import { FakeRuntime } from '../runtime/testing/fake-runtime.ts';
import type { AttachRequest, ContainerId, RuntimeHandler } from '../runtime/types.ts';
import { serveAttach } from './attach-stream.ts';
import { Channel } from './stream-channels.ts';

/** the client side of a v5 session, as serveAttach sees it: frames in, frames out, close */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  readonly protocol = 'v5.channel.k8s.io';
  readonly sent: Buffer[] = [];
  send(data: Buffer, _opts?: unknown, cb?: () => void): void {
    this.sent.push(data);
    (typeof _opts === 'function' ? (_opts as () => void) : cb)?.();
  }
  close(): void {
    this.readyState = 3;
    this.emit('close');
  }
  fromClient(ch: number, payload: string): void {
    this.emit('message', Buffer.concat([Buffer.from([ch]), Buffer.from(payload)]), true);
  }
}

describe('serveAttach', () => {
  it('applies terminal sizes one at a time in the order they came, so a slow first resize cannot land last', async () => {
    const applied: string[] = [];
    let detach!: () => void;
    const attached = new Promise<void>((resolve) => (detach = resolve));
    const handler = Object.assign(Object.create(new FakeRuntime()) as RuntimeHandler, {
      attach: async (_id: ContainerId, req: AttachRequest): Promise<void> => {
        req.onAttached?.();
        await attached;
      },
      // the first write is slow (a loaded machine), the second quick: side by side the first would land last
      resizeTerminal: async (_id: ContainerId, size: { width: number; height: number }): Promise<void> => {
        await new Promise((r) => setTimeout(r, size.width === 101 ? 50 : 0));
        applied.push(`${size.height}x${size.width}`);
      },
    });
    const ws = new FakeSocket();
    const done = serveAttach({ ws: ws as unknown as WebSocket, handler, id: 'cid' as ContainerId, loc: { logDir: '/nonexistent', restartCount: 0 }, tty: true, stdin: true, stdout: true, stderr: false, signal: new AbortController().signal, logger: silentLogger() });
    // what kubectl attach -it sends: one larger, then the terminal's size
    ws.fromClient(Channel.resize, JSON.stringify({ Width: 101, Height: 31 }));
    ws.fromClient(Channel.resize, JSON.stringify({ Width: 100, Height: 30 }));
    await new Promise((r) => setTimeout(r, 120));
    assert.deepEqual(applied, ['31x101', '30x100']);
    detach();
    await done;
    const status = ws.sent.filter((f) => f[0] === Channel.error).map((f) => f.subarray(1).toString()).join('');
    assert.deepEqual(JSON.parse(status), { metadata: {}, status: 'Success' });
  });
});
