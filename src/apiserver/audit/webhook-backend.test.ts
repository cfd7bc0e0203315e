import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../lib/log.ts';
import { Registry } from '../../lib/prom.ts';
import { BufferedBackend } from './buffered-backend.ts';
import { auditMetrics } from './metrics.ts';
import type { Timers } from '../../lib/timers.ts';
import { splitBatch, truncateEvent } from './truncate.ts';
import { createWebhookBackend, eventList, unionBackend, WebhookSender } from './webhook-backend.ts';

/** time that moves only by `advance`; due timers run in order */
class FakeTimers implements Timers {
  t = 0;
  #seq = 0;
  timers = new Map<number, { at: number; fn: () => void }>();
  now = (): number => this.t;
  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.#seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  };
  clearTimeout = (h: unknown): void => {
    this.timers.delete(h as number);
  };
  /** the waits pending, in ms from now */
  pending(): number[] {
    return [...this.timers.values()].map((x) => x.at - this.t).sort((a, b) => a - b);
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
    }
    this.t = end;
    await settle();
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

async function counter(registry: Registry, name: string, labels = ''): Promise<number> {
  const text = await registry.metrics();
  const m = new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const ev = (n: number, extra = ''): string => `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"${n}"${extra}}\n`;

function recorder() {
  const batches: string[][] = [];
  return { batches, send: async (lines: string[]) => void batches.push(lines) };
}

describe('BufferedBackend (upstream buffered)', () => {
  const failedInto = (registry: Registry) => {
    const m = auditMetrics(registry);
    return (plugin: string, n: number) => m.error.inc({ plugin }, n);
  };

  it('sends a batch when maxBatchSize events wait, at once, and the rest after maxBatchWait', async () => {
    const timers = new FakeTimers();
    const r = recorder();
    const b = new BufferedBackend({ bufferSize: 100, maxBatchSize: 3, maxBatchWaitMs: 30_000, send: r.send, failed: () => undefined, timers });
    for (let i = 0; i < 4; i++) assert.equal(b.process(ev(i)), undefined, 'batch mode never hands the request a promise');
    await settle();
    assert.deepEqual(r.batches.map((x) => x.length), [3], 'the full batch went without waiting');
    await timers.advance(29_999);
    assert.equal(r.batches.length, 1, 'the fourth waits for maxBatchWait');
    await timers.advance(1);
    assert.deepEqual(r.batches.map((x) => x.map((l) => JSON.parse(l).auditID)), [['0', '1', '2'], ['3']]);
    await b.close();
  });

  it('a full buffer drops (plugin "buffered") without blocking; close sends what is queued', async () => {
    const timers = new FakeTimers();
    const registry = new Registry();
    const r = recorder();
    const b = new BufferedBackend({ bufferSize: 5, maxBatchSize: 100, maxBatchWaitMs: 30_000, send: r.send, failed: failedInto(registry), timers });
    for (let i = 0; i < 8; i++) b.process(ev(i));
    assert.equal(await counter(registry, 'apiserver_audit_error_total', '{plugin="buffered"}'), 3);
    assert.equal(b.queued, 5);
    await b.close();
    assert.deepEqual(r.batches.map((x) => x.length), [5], 'shutdown flushed the buffer');
    b.process(ev(9));
    assert.equal(await counter(registry, 'apiserver_audit_error_total', '{plugin="buffered"}'), 4, 'after close: counted, not sent');
  });

  it('throttles batches to qps after the burst; events keep queueing meanwhile', async () => {
    const timers = new FakeTimers();
    const r = recorder();
    const b = new BufferedBackend({ bufferSize: 100, maxBatchSize: 1, maxBatchWaitMs: 30_000, throttle: { qps: 2, burst: 2 }, send: r.send, failed: () => undefined, timers });
    for (let i = 0; i < 5; i++) b.process(ev(i));
    await settle();
    assert.equal(r.batches.length, 2, 'the burst');
    await timers.advance(500);
    assert.equal(r.batches.length, 3, 'then one per 1/qps');
    await timers.advance(1000);
    assert.equal(r.batches.length, 5);
    await b.close();
  });

  it('close waits for a send in flight', async () => {
    const timers = new FakeTimers();
    let release!: () => void;
    let done = false;
    const b = new BufferedBackend({
      bufferSize: 10,
      maxBatchSize: 1,
      maxBatchWaitMs: 1000,
      send: () => new Promise<void>((r) => (release = r)).then(() => void (done = true)),
      failed: () => undefined,
      timers,
    });
    b.process(ev(1));
    const closing = b.close();
    await settle();
    assert.equal(done, false);
    release();
    await closing;
    assert.equal(done, true);
  });
});

describe('WebhookSender (upstream webhook backend)', () => {
  it('POSTs one EventList; after a failure tries again after 10 s, then 1.5x longer each time, 5 tries in all, then counts the events (plugin "webhook")', async () => {
    const timers = new FakeTimers();
    const registry = new Registry();
    const m = auditMetrics(registry);
    const bodies: string[] = [];
    const s = new WebhookSender({
      post: async (b) => {
        bodies.push(b);
        throw new Error('connect ECONNREFUSED 127.0.0.1:1');
      },
      initialBackoffMs: 10_000,
      failed: (plugin, n) => m.error.inc({ plugin }, n),
      timers,
      random: () => 0,
    });
    let result: boolean | undefined;
    void s.send([ev(1), ev(2)]).then((r) => (result = r));
    await settle();
    assert.equal(bodies.length, 1);
    const list = JSON.parse(bodies[0]!) as { kind: string; apiVersion: string; items: { auditID: string }[] };
    assert.equal(list.kind, 'EventList');
    assert.equal(list.apiVersion, 'audit.k8s.io/v1');
    assert.deepEqual(list.items.map((i) => i.auditID), ['1', '2']);
    for (const [wait, tries] of [[10_000, 2], [15_000, 3], [22_500, 4], [33_750, 5]] as const) {
      assert.deepEqual(timers.pending(), [wait]);
      await timers.advance(wait - 1);
      assert.equal(bodies.length, tries - 1, `not before ${wait} ms`);
      await timers.advance(1);
      assert.equal(bodies.length, tries);
    }
    await settle();
    assert.equal(result, false);
    assert.equal(await counter(registry, 'apiserver_audit_error_total', '{plugin="webhook"}'), 2);
  });

  it('a receiver back within the retries gets the events, nothing counted; jitter adds up to 20 %', async () => {
    const timers = new FakeTimers();
    let up = false;
    let delivered = 0;
    const s = new WebhookSender({
      post: async () => {
        if (!up) throw new Error('the server responded with the status code 503');
        delivered++;
      },
      initialBackoffMs: 1000,
      failed: () => assert.fail('not dropped'),
      timers,
      random: () => 1,
    });
    const p = s.send([ev(1)]);
    await settle();
    assert.deepEqual(timers.pending(), [1200]);
    up = true;
    await timers.advance(1200);
    assert.equal(await p, true);
    assert.equal(delivered, 1);
  });
});

describe('truncate (upstream truncate plugin)', () => {
  const big = (level: string) => `{"kind":"Event","level":"${level}","auditID":"x","requestObject":{"data":"${'a'.repeat(500)}"},"responseObject":{"b":1}}\n`;

  it('an event over maxEventSize at Request and up loses its objects and is marked; one still too big, or at Metadata, is an error', () => {
    const out = truncateEvent(big('RequestResponse'), 200);
    assert.equal(typeof out, 'string');
    const e = JSON.parse(out as string) as Record<string, unknown>;
    assert.equal(e.requestObject, undefined);
    assert.equal(e.responseObject, undefined);
    assert.deepEqual(e.annotations, { 'audit.k8s.io/truncated': 'true' });
    assert.equal(truncateEvent(big('Request'), 10) instanceof Error, true);
    assert.equal(truncateEvent(`{"level":"Metadata","auditID":"${'x'.repeat(300)}"}\n`, 200) instanceof Error, true);
    const small = ev(1);
    assert.equal(truncateEvent(small, 10_000), small, 'small events pass untouched');
  });

  it('splits a batch so no part passes maxBatchSize bytes', () => {
    const lines = [ev(1), ev(2), ev(3)];
    const one = Buffer.byteLength(lines[0]!) - 1;
    assert.deepEqual(splitBatch(lines, one * 2).map((b) => b.length), [2, 1]);
    assert.deepEqual(splitBatch(lines, one).map((b) => b.length), [1, 1, 1]);
  });

  it('through the webhook backend: oversize events truncated or dropped (plugin "truncate"), batches split', async () => {
    const registry = new Registry();
    const bodies: string[] = [];
    const timers = new FakeTimers();
    const b = createWebhookBackend({
      target: { server: 'http://127.0.0.1:1' },
      mode: 'batch',
      batch: { bufferSize: 100, maxBatchSize: 10, maxBatchWaitMs: 1000 },
      initialBackoffMs: 10,
      truncate: { maxEventSize: 150, maxBatchSize: 200 },
      metrics: auditMetrics(registry),
      logger: silentLogger(),
      post: async (body) => void bodies.push(body),
      timers,
    });
    void b.process(big('RequestResponse'));
    void b.process(`{"level":"Metadata","auditID":"${'x'.repeat(400)}"}\n`);
    void b.process(ev(7));
    void b.process(ev(8));
    void b.process(ev(9));
    assert.equal(await counter(registry, 'apiserver_audit_error_total', '{plugin="truncate"}'), 1);
    await timers.advance(1000);
    const lists = bodies.map((x) => (JSON.parse(x) as { items: { auditID: string; annotations?: Record<string, string> }[] }).items);
    assert.ok(lists.length >= 2, `split into ${lists.length}`);
    for (const x of bodies) assert.ok(Buffer.byteLength(x) < 200 + 100, 'each POST within the batch limit (plus the list envelope)');
    assert.deepEqual(lists.flat().map((i) => i.auditID), ['x', '7', '8', '9']);
    assert.equal(lists[0]![0]!.annotations?.['audit.k8s.io/truncated'], 'true');
    await b.close();
  });
});

describe('modes and the union', () => {
  it('blocking: process returns a promise that settles true even when the send failed; blocking-strict: false', async () => {
    for (const [mode, want] of [['blocking', true], ['blocking-strict', false]] as const) {
      const registry = new Registry();
      const b = createWebhookBackend({
        target: { server: 'http://127.0.0.1:1' },
        mode,
        batch: { bufferSize: 1, maxBatchSize: 1, maxBatchWaitMs: 1 },
        initialBackoffMs: 0,
        metrics: auditMetrics(registry),
        logger: silentLogger(),
        post: async () => {
          throw new Error('down');
        },
      });
      const d = b.process(ev(1));
      assert.ok(d instanceof Promise, mode);
      assert.equal(await d, want, mode);
      assert.equal(await counter(registry, 'apiserver_audit_error_total', '{plugin="webhook"}'), 1);
      await b.close();
    }
  });

  it('union: every event to each backend; stored only if each stored it', async () => {
    const seen: string[] = [];
    const u = unionBackend([
      { process: (l) => void seen.push(`a${l}`), close: async () => undefined },
      { process: (l) => (seen.push(`b${l}`), Promise.resolve(l !== 'x')), close: async () => undefined },
    ]);
    assert.equal(await u.process('y'), true);
    assert.equal(await u.process('x'), false);
    assert.deepEqual(seen, ['ay', 'by', 'ax', 'bx']);
  });

  it('eventList drops the newline of each line', () => {
    assert.equal(eventList(['{"a":1}\n', '{"b":2}\n']), '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{"a":1},{"b":2}]}');
  });
});
