import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { decodeFrame, encodeFrame } from './frame.ts';
import { MuxSession, type MuxSessionOptions, type MuxStream } from './mux-session.ts';

interface Pair {
  client: MuxSession;
  server: MuxSession;
  /** DATA payload bytes the client has put on the link, per stream */
  clientSent: Map<number, number>;
  /** stop delivering anything (a link that died without closing) */
  blackhole(): void;
  linkCloses: string[];
}

/** Two sessions joined by an in-memory link delivering each message on a later turn, as a socket does. */
function pair(opts: { server?: Partial<MuxSessionOptions>; client?: Partial<MuxSessionOptions> } = {}): Pair {
  let dead = false;
  const clientSent = new Map<number, number>();
  const linkCloses: string[] = [];
  const deliver = (to: () => MuxSession, buf: Buffer): void => {
    setImmediate(() => {
      if (!dead) to().receive(buf);
    });
  };
  const client: MuxSession = new MuxSession({
    role: 'client',
    link: {
      send: (b) => {
        const f = decodeFrame(b);
        if (f?.type === 'data') clientSent.set(f.stream, (clientSent.get(f.stream) ?? 0) + f.data.length);
        deliver(() => server, b);
      },
      close: (r) => {
        linkCloses.push(`client:${r}`);
        setImmediate(() => server.linkClosed(r));
      },
    },
    ...opts.client,
  });
  const server: MuxSession = new MuxSession({
    role: 'server',
    link: {
      send: (b) => deliver(() => client, b),
      close: (r) => {
        linkCloses.push(`server:${r}`);
        setImmediate(() => client.linkClosed(r));
      },
    },
    ...opts.server,
  });
  return { client, server, clientSent, linkCloses, blackhole: () => (dead = true) };
}

/** read to the end without destroying the stream (async iteration would, and so reset the peer) */
function readAll(s: MuxStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

/** streams the test lets the session tear down: their reset errors are expected */
const quiet = (...ss: MuxStream[]): void => {
  for (const s of ss) s.on('error', () => undefined);
};

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** an echo server: every stream sends back what it reads, then ends */
const echo = (s: MuxStream): void => {
  s.on('error', () => undefined);
  s.pipe(s);
};

async function until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('MuxSession', () => {
  it('carries a stream both ways with half-close, then releases it on both sides', async () => {
    let serverStream: MuxStream | undefined;
    let meta = '';
    const p = pair({
      server: {
        onStream: (s, m) => {
          serverStream = s;
          meta = m.toString();
        },
      },
    });
    const c = p.client.open('node-server');
    c.end('hello');
    await until(() => serverStream !== undefined, 'the open');
    assert.equal(meta, 'node-server');
    const s = serverStream as MuxStream;
    assert.equal((await readAll(s)).toString(), 'hello');
    // the client finished writing; the server may still answer (half-close)
    s.end('world');
    assert.equal((await readAll(c)).toString(), 'world');
    await until(() => p.client.streamCount === 0 && p.server.streamCount === 0, 'both sides to release the stream');
    p.client.close();
    await p.server.done;
  });

  it('keeps 40 concurrent streams of 512 KiB apart', async () => {
    const p = pair({ server: { onStream: echo } });
    const results = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const payload = randomBytes(512 * 1024);
        const s = p.client.open();
        const back = readAll(s);
        s.end(payload);
        return { sent: sha(payload), got: sha(await back) };
      }),
    );
    for (const r of results) assert.equal(r.got, r.sent);
    await until(() => p.client.streamCount === 0 && p.server.streamCount === 0, 'release');
    p.client.close();
  });

  it('stops a sender whose reader does not read at the window, while other streams keep flowing', async () => {
    const windowBytes = 64 * 1024;
    const streams: MuxStream[] = [];
    const p = pair({
      server: {
        windowBytes,
        onStream: (s, m) => {
          if (m.toString() === 'echo') echo(s);
          else {
            quiet(s);
            streams.push(s); // the slow reader: nothing reads it yet
          }
        },
      },
      client: { windowBytes },
    });
    const slow = p.client.open('slow');
    quiet(slow);
    const total = 4 * 1024 * 1024;
    const payload = randomBytes(total);
    const writeDone = new Promise<void>((resolve) => slow.end(payload, () => resolve()));
    await until(() => (p.clientSent.get(slow.id) ?? 0) >= windowBytes, 'the window to fill');
    // an interactive stream still round-trips while the slow one is stalled
    for (let i = 0; i < 20; i++) {
      const e = p.client.open('echo');
      const back = readAll(e);
      e.end(`ping ${i}`);
      assert.equal((await back).toString(), `ping ${i}`);
    }
    assert.equal(p.clientSent.get(slow.id), windowBytes, 'the stalled sender never exceeds the receiver window');
    assert.ok(streams[0].readableLength <= windowBytes);
    const got = await readAll(streams[0]);
    await writeDone;
    assert.equal(sha(got), sha(payload));
    p.client.close();
  });

  it('a reset on one side fails the peer stream and releases both', async () => {
    let serverStream: MuxStream | undefined;
    const p = pair({ server: { onStream: (s) => (serverStream = s) } });
    const c = p.client.open();
    quiet(c);
    c.write('x');
    await until(() => serverStream !== undefined, 'the open');
    const s = serverStream as MuxStream;
    const err = once(s, 'error');
    c.destroy(new Error('client gave up'));
    const [e] = (await err) as [Error & { errno?: string }];
    assert.match(e.message, /reset by peer: client gave up/);
    assert.equal(e.errno, 'ECONNRESET');
    await until(() => p.client.streamCount === 0 && p.server.streamCount === 0, 'release');
  });

  it('fails every stream when the link closes, and refuses new ones', async () => {
    const p = pair({ server: { onStream: (x) => quiet(x) } });
    const a = p.client.open();
    const b = p.client.open();
    const errs = Promise.all([once(a, 'error'), once(b, 'error')]);
    p.server.close('server shutting down');
    const [[ea], [eb]] = (await errs) as [[Error], [Error]];
    assert.match(ea.message, /tunnel closed: server shutting down/);
    assert.match(eb.message, /tunnel closed/);
    assert.equal(await p.client.done, 'server shutting down');
    assert.throws(() => p.client.open(), /tunnel closed/);
  });

  it('refuses streams when it has no handler, or past maxStreams', async () => {
    const noHandler = pair();
    const s = noHandler.client.open();
    const [e] = (await once(s, 'error')) as [Error];
    assert.match(e.message, /refused/);

    const p = pair({ server: { maxStreams: 2, onStream: (x) => quiet(x) } });
    const ok1 = p.client.open();
    const ok2 = p.client.open();
    quiet(ok1, ok2);
    const third = p.client.open();
    const [e3] = (await once(third, 'error')) as [Error];
    assert.match(e3.message, /refused/);
    assert.ok(!ok1.destroyed && !ok2.destroyed);
    p.client.close();
  });

  it('resets a stream whose peer ignores the window', async () => {
    let serverStream: MuxStream | undefined;
    const sent: Buffer[] = [];
    const server = new MuxSession({
      role: 'server',
      windowBytes: 1024,
      onStream: (s) => (serverStream = s),
      link: { send: (b) => sent.push(b), close: () => undefined },
    });
    server.receive(encodeFrame({ type: 'open', stream: 1, meta: Buffer.alloc(0) }));
    const s = serverStream as MuxStream;
    const err = once(s, 'error');
    server.receive(encodeFrame({ type: 'data', stream: 1, data: Buffer.alloc(2048) }));
    const [e] = (await err) as [Error];
    assert.match(e.message, /flow-control window/);
    assert.ok(sent.map(decodeFrame).some((f) => f?.type === 'rst' && f.stream === 1));
    assert.equal(server.streamCount, 0);
    server.close();
  });

  it('ends the session on a malformed frame or a stream id of the wrong parity', async () => {
    const mk = (): MuxSession => new MuxSession({ role: 'server', onStream: () => undefined, link: { send: () => undefined, close: () => undefined } });
    const a = mk();
    a.receive(Buffer.from([9, 0, 0, 0, 1]));
    assert.match(await a.done, /malformed/);
    const b = mk();
    b.receive(encodeFrame({ type: 'open', stream: 2, meta: Buffer.alloc(0) }));
    assert.match(await b.done, /bad stream id 2/);
  });

  it('notices a dead link through keepalive within the timeout', async () => {
    const p = pair({ client: { keepalive: { intervalMs: 50, timeoutMs: 300 } } });
    assert.ok((await p.client.ping()) >= 0);
    const s = p.client.open();
    s.on('error', () => undefined);
    const started = Date.now();
    p.blackhole();
    // the session's timers do not hold the process open (its link's socket does); this stands in
    const hold = setInterval(() => undefined, 1_000);
    const reason = await p.client.done;
    clearInterval(hold);
    const took = Date.now() - started;
    assert.match(reason, /keepalive/);
    assert.ok(took < 1_000, `noticed after ${took} ms (timeout 300 ms, pinging every 50 ms)`);
    assert.ok(s.destroyed);
  });

  it('alive(): true once the peer answers, false on a dead link within the timeout and once the session ends', async () => {
    const p = pair();
    const heard0 = p.client.heardAt;
    assert.equal(await p.client.alive(300), true);
    assert.ok(p.client.heardAt >= heard0);
    p.blackhole();
    const t0 = performance.now();
    assert.equal(await p.client.alive(100), false);
    assert.ok(performance.now() - t0 >= 90, 'waited for the timeout');
    const ac = new AbortController();
    const pending = p.client.alive(5_000, ac.signal);
    ac.abort();
    assert.equal(await pending, false, 'abort gives up at once');
    const ending = p.client.alive(5_000);
    p.client.close();
    assert.equal(await ending, false, 'the session ended');
    assert.equal(await p.client.alive(5_000), false);
  });

  it('keepalive: one side pinging does for both — a side that hears the peer ping, or asks alive() itself, sends no keepalive pings', async () => {
    const pings = { client: 0, server: 0 };
    const p = pair({ client: { keepalive: { intervalMs: 40, timeoutMs: 120 } }, server: { keepalive: { intervalMs: 40, timeoutMs: 120 } } });
    // count pings each side puts on the link by wrapping receive on the other side
    for (const [side, other] of [['client', 'server'], ['server', 'client']] as const) {
      const recv = p[other].receive.bind(p[other]);
      p[other].receive = (buf: Buffer): void => {
        if (decodeFrame(buf)?.type === 'ping') pings[side]++;
        recv(buf);
      };
    }
    // the client asks alive() every 10 ms, as the hub does: the server hears it and never pings,
    // and the client's keepalive adds none to its own
    const asking = setInterval(() => void p.client.alive(100), 10);
    await new Promise((r) => setTimeout(r, 20));
    const asked = pings.client;
    await new Promise((r) => setTimeout(r, 400));
    clearInterval(asking);
    assert.equal(p.server.closed, false);
    assert.equal(pings.server, 0, 'the server heard the client all along');
    assert.ok(pings.client - asked <= 41, `${pings.client - asked} client pings in 400 ms: alive() only`);
    // left alone, both keep the link up with their own pings
    const before = pings.client + pings.server;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(p.client.closed || p.server.closed, false);
    assert.ok(pings.client + pings.server > before, 'keepalive pings once the link is quiet');
    p.client.close();
  });

  it('keepalive survives a round trip longer than its interval (the pings do not wait for each other)', async () => {
    const ka: Partial<MuxSessionOptions> = { keepalive: { intervalMs: 50, timeoutMs: 400 } };
    // a link delaying every message by 250 ms: more than the interval and less than the timeout one
    // way, a round trip (500 ms) longer than the timeout
    let server: MuxSession | undefined = undefined;
    const client: MuxSession = new MuxSession({ role: 'client', link: { send: (b) => void setTimeout(() => server?.receive(b), 250), close: () => undefined }, ...ka });
    server = new MuxSession({ role: 'server', link: { send: (b) => void setTimeout(() => client.receive(b), 250), close: () => undefined }, ...ka });
    await new Promise((r) => setTimeout(r, 1_600));
    assert.equal(client.closed, false, 'client');
    assert.equal(server.closed, false, 'server');
    client.close();
    server.close();
  });

  it('a live link survives keepalive indefinitely', async () => {
    // a window of four timeouts; the timeout long enough that a loaded CI turn (a 100 ms one was
    // seen) is not mistaken for a dead link
    const p = pair({ client: { keepalive: { intervalMs: 50, timeoutMs: 400 } }, server: { keepalive: { intervalMs: 50, timeoutMs: 400 } } });
    const s = p.client.open();
    s.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 1_600));
    assert.equal(p.client.closed, false);
    assert.equal(p.server.closed, false);
    p.client.close();
  });

  it('heartbeat: one unanswered frame per period; the peer hears it, and heartbeatLate() wakes only once it stops', async () => {
    const sent = { client: 0, server: 0 };
    const p = pair({ server: { heartbeatMs: 200 }, client: { peerHeartbeatMs: 200 } });
    // periods of 200 ms, not 30: "late" is a fifth of a period, and 6 ms of timer jitter on a loaded machine made it late (CI)
    for (const [side, other] of [['client', 'server'], ['server', 'client']] as const) {
      const recv = p[other].receive.bind(p[other]);
      p[other].receive = (buf: Buffer): void => {
        sent[side]++;
        recv(buf);
      };
    }
    assert.equal(p.client.heartbeatLateMs, 240);
    assert.equal(p.server.heartbeatLateMs, undefined);
    const ac = new AbortController();
    let late = false;
    void p.client.heartbeatLate(ac.signal).then(() => (late = true));
    await new Promise((r) => setTimeout(r, 1_200));
    assert.ok(sent.server >= 5, `${sent.server} heartbeats in 1,200 ms at 200 ms`);
    assert.equal(sent.client, 0, 'nothing sent back: the heartbeat is not answered');
    assert.equal(late, false, 'not late while it arrives');
    assert.ok(p.client.silentMs < 240);
    const cut = performance.now();
    p.blackhole();
    // the session's timers are unref'd: keep the loop up to the end (a beat already in transit when
    // the link was cut may land after the first wake and make the next wait a period long: CI)
    const hold = setInterval(() => undefined, 1_000);
    try {
      await p.client.heartbeatLate(ac.signal);
      const after = performance.now() - cut;
      assert.ok(after >= 5 && after < 1_500, `late ${after.toFixed(0)} ms after the link went silent`);
      assert.equal(late, true, 'the earlier waiter woke too');
      // already late: at once; a session that ended: at once
      await p.client.heartbeatLate(ac.signal);
      p.client.close();
      p.server.close();
      await p.client.heartbeatLate(new AbortController().signal);
    } finally {
      clearInterval(hold);
    }
  });
  it('heartbeatLate: a late timer that fires before the session\'s own clock says late waits out the rest; a next wait is then at once', async () => {
    // the session's clock lags the timers' by 60 ms once the link is cut (a loaded loop turn
    // caches the timers' clock): the late timer fires while silentMs is still short of the mark
    let lag = 0;
    const p = pair({ server: { heartbeatMs: 100 }, client: { peerHeartbeatMs: 100, now: () => Date.now() - lag } });
    await new Promise((r) => setTimeout(r, 250));
    const hold = setInterval(() => undefined, 1_000);
    try {
      p.blackhole();
      lag = 60;
      await p.client.heartbeatLate(new AbortController().signal);
      assert.ok(p.client.silentMs >= (p.client.heartbeatLateMs ?? 0), `woken at ${p.client.silentMs} ms of silence, not before the late mark`);
      // already late by the session's own clock: at once, not a wait for a timer nobody armed
      const t0 = Date.now();
      await Promise.race([p.client.heartbeatLate(new AbortController().signal), new Promise((_, reject) => setTimeout(() => reject(new Error('a second wait hung')), 2_000))]);
      assert.ok(Date.now() - t0 < 50);
    } finally {
      clearInterval(hold);
      p.client.close();
      p.server.close();
    }
  });

  it('keepalive with a heartbeat: the beating side pings in every other beat\'s place, the hearing side sends only answers, no timer of its own on a live link; a dead link still ends both', async () => {
    const frames = { client: [] as string[], server: [] as string[] };
    const ka = { intervalMs: 200, timeoutMs: 600 };
    // as the tunnel: the apiserver beats every 100 ms, the node hears it (both with their keepalive)
    const p = pair({ server: { heartbeatMs: 100, keepalive: ka }, client: { peerHeartbeatMs: 100, keepalive: ka } });
    for (const [side, other] of [['client', 'server'], ['server', 'client']] as const) {
      const recv = p[other].receive.bind(p[other]);
      p[other].receive = (buf: Buffer): void => {
        const f = decodeFrame(buf);
        // the server's heartbeat is a pong nobody asked for
        frames[side].push(f?.type === 'pong' && side === 'server' ? 'beat' : (f?.type ?? '?'));
        recv(buf);
      };
    }
    const hold = setInterval(() => undefined, 1_000); // the session's timers are unref'd: keep the loop up meanwhile
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(p.client.closed || p.server.closed, false, 'a live link stays up');
    const count = (side: 'client' | 'server', type: string): number => frames[side].filter((f) => f === type).length;
    // ~15 ticks: about every other one a ping (one is due each 200 ms, from 150 ms on)
    assert.ok(count('server', 'ping') >= 4 && count('server', 'beat') >= 4, `${count('server', 'ping')} pings and ${count('server', 'beat')} beats from the server`);
    assert.ok(Math.abs(count('server', 'ping') - count('server', 'beat')) <= 3, `pings and beats alternate: ${frames.server.join(' ')}`);
    // the client answers them and pings only for a beat that came late (a loaded machine); before, its own timer pinged about every other interval
    assert.equal(count('client', 'pong'), count('server', 'ping'));
    assert.ok(count('client', 'ping') <= 2, `the client sent ${frames.client.join(' ')}`);
    // cut the link: each side's keepalive ends its session within the timeout and a beat or so
    const cut = performance.now();
    p.blackhole();
    await until(() => p.client.closed && p.server.closed, 'both sessions to end', 3_000);
    clearInterval(hold);
    assert.ok(performance.now() - cut < 1_500, `ended ${(performance.now() - cut).toFixed(0)} ms after the cut`);
    assert.match(await p.client.done, /keepalive/);
    assert.match(await p.server.done, /keepalive/);
  });

  it('keepalive with a heartbeat slower than its interval keeps its own timer (a test tunnel: 200 ms keepalive, 1 s beat)', async () => {
    const p = pair({ server: { heartbeatMs: 1_000, keepalive: { intervalMs: 50, timeoutMs: 400 } }, client: { peerHeartbeatMs: 1_000, keepalive: { intervalMs: 50, timeoutMs: 400 } } });
    const hold = setInterval(() => undefined, 1_000);
    await new Promise((r) => setTimeout(r, 1_200));
    assert.equal(p.client.closed || p.server.closed, false, 'pinged often enough for its 400 ms timeout');
    p.blackhole();
    await until(() => p.client.closed && p.server.closed, 'both sessions to end', 3_000);
    clearInterval(hold);
  });
});
