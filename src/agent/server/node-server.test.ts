import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import WebSocket from 'ws';
import { silentLogger } from '../../lib/log.ts';
import { FakeRuntime, startFakeContainer } from '../runtime/testing/fake-runtime.ts';
import type { ContainerId } from '../runtime/types.ts';
import { startNodeServer, type NodeServer } from './node-server.ts';
import type { PodSource } from './types.ts';

const TOKEN = 'sekret';

describe('node server', () => {
  let dir: string;
  let srv: NodeServer;
  const runtime = new FakeRuntime();
  const pod: Pod = { metadata: { name: 'web', namespace: 'default', uid: 'u1' }, spec: { containers: [{ name: 'c', image: 'busybox:1' }] } };
  const base = (): string => `http://127.0.0.1:${srv.port}`;
  const auth = { Authorization: `Bearer ${TOKEN}` };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hedge-srv-'));
    await mkdir(join(dir, 'c'), { recursive: true });
    await writeFile(join(dir, 'c', '0.log'), '2026-01-01T00:00:00.000000001Z stdout F old line\n');
    await writeFile(
      join(dir, 'c', '1.log'),
      [
        '2026-01-01T00:00:01.000000000Z stdout F one',
        '2026-01-01T00:00:02.000000000Z stderr P tw',
        '2026-01-01T00:00:02.000000001Z stderr F o',
        '2026-01-01T00:00:03.000000000Z stdout F three',
        '',
      ].join('\n'),
    );
    await startFakeContainer(runtime, { pod: { uid: 'u1', namespace: 'default', name: 'web' }, name: 'c', stateDir: dir, logPath: join(dir, 'c', '1.log') });
    runtime.execResult = async (_cfg, req) => {
      if (req.command[0] === 'cat') {
        // echo stdin back on stdout until the client closes stdin
        for await (const chunk of req.stdin as AsyncIterable<Buffer>) req.stdout?.write(chunk);
        return 0;
      }
      req.stdout?.write(Buffer.from(`ran ${req.command.join(' ')}\n`));
      req.stderr?.write(Buffer.from('warn\n'));
      return 3;
    };
    const pods: PodSource = {
      pods: () => [pod],
      locate: (ns, name, container) =>
        ns === 'default' && name === 'web' && (container ?? 'c') === 'c'
          ? { pod, handler: runtime, id: 'cid' as ContainerId, logDir: join(dir, 'c'), restartCount: 1 }
          : undefined,
    };
    srv = await startNodeServer({ host: '127.0.0.1', port: 0, auth: { tokens: new Set([TOKEN]), clientCerts: false, authorization: 'AlwaysAllow' }, pods, logger: silentLogger() });
  });
  after(async () => {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves /healthz openly and requires a token elsewhere', async () => {
    assert.equal(await (await fetch(`${base()}/healthz`)).text(), 'ok');
    assert.equal((await fetch(`${base()}/pods`)).status, 401);
    const list = (await (await fetch(`${base()}/pods`, { headers: auth })).json()) as { kind: string; items: Pod[] };
    assert.equal(list.kind, 'PodList');
    assert.equal(list.items[0].metadata?.name, 'web');
  });

  it('serves container logs with tail, timestamps, previous, limitBytes; 404 for unknown containers', async () => {
    const get = async (q: string): Promise<Response> => fetch(`${base()}/containerLogs/default/web/c${q}`, { headers: auth });
    assert.equal(await (await get('')).text(), 'one\ntwo\nthree\n');
    assert.equal(await (await get('?tailLines=1')).text(), 'three\n');
    assert.equal(await (await get('?timestamps=true&tailLines=1')).text(), '2026-01-01T00:00:03.000000000Z three\n');
    assert.equal(await (await get('?previous=true')).text(), 'old line\n');
    assert.equal(await (await get('?limitBytes=5')).text(), 'one\nt');
    assert.equal(await (await get('?sinceTime=2026-01-01T00:00:02.5Z')).text(), 'three\n');
    assert.equal((await fetch(`${base()}/containerLogs/default/web/nope`, { headers: auth })).status, 404);
    assert.equal((await get('?tailLines=-1')).status, 400);
  });

  it('execs over the v5 channel protocol: stdout/stderr channels and a NonZeroExitCode status', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/exec/default/web/c?command=echo&command=hi&stdout=1&stderr=1`, ['v5.channel.k8s.io'], { headers: auth });
    const frames: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (d: Buffer) => frames.push(d));
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    assert.equal(ws.protocol, 'v5.channel.k8s.io');
    const by = (ch: number): string => frames.filter((f) => f[0] === ch).map((f) => f.subarray(1).toString()).join('');
    assert.equal(by(1), 'ran echo hi\n');
    assert.equal(by(2), 'warn\n');
    const status = JSON.parse(by(3)) as { status: string; reason: string; details: { causes: { reason: string; message: string }[] } };
    assert.equal(status.status, 'Failure');
    assert.equal(status.reason, 'NonZeroExitCode');
    assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '3' }]);
  });

  it('exec forwards stdin and honours the v5 close channel', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/exec/default/web/c?command=cat&stdin=1&stdout=1`, ['v5.channel.k8s.io'], { headers: auth });
    const frames: Buffer[] = [];
    const closed = new Promise<void>((resolve) => ws.on('close', () => resolve()));
    ws.on('message', (d: Buffer) => frames.push(d));
    await new Promise<void>((resolve) => ws.on('open', () => resolve()));
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('hello\n')]));
    ws.send(Buffer.from([255, 0]));
    await closed;
    const out = frames.filter((f) => f[0] === 1).map((f) => f.subarray(1).toString()).join('');
    assert.equal(out, 'hello\n');
    assert.deepEqual(JSON.parse(frames.filter((f) => f[0] === 3).map((f) => f.subarray(1).toString()).join('')), { metadata: {}, status: 'Success' });
  });

  it('attach -i to a handler without the attach capability: a Failure status naming the runtime, not a silent drop', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/attach/default/web/c?stdin=1&stdout=1`, ['v5.channel.k8s.io'], { headers: auth });
    const frames: Buffer[] = [];
    ws.on('message', (d: Buffer) => frames.push(d));
    await new Promise<void>((resolve) => ws.on('close', () => resolve()));
    const status = JSON.parse(frames.filter((f) => f[0] === 3).map((f) => f.subarray(1).toString()).join('')) as { status: string; message: string };
    assert.equal(status.status, 'Failure');
    assert.match(status.message, new RegExp(`runtime handler "${runtime.name}" cannot pass stdin`));
  });

  it('rejects exec without credentials', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/exec/default/web/c?command=ls&stdout=1`, ['v5.channel.k8s.io']);
    const code = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    assert.equal(code, 401);
  });
});
