import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../lib/log.ts';
import { Registry } from '../../lib/prom.ts';
import { LogBackend, type AuditSink } from './log-backend.ts';
import { auditMetrics } from './metrics.ts';

/** a sink whose writes wait until released, and fail while `failing` */
function gatedSink() {
  const writes: string[] = [];
  let release: (() => void) | undefined;
  const state = { failing: false, gated: false, closed: false };
  const sink: AuditSink = {
    async write(buf) {
      if (state.gated) await new Promise<void>((r) => (release = r));
      if (state.failing) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      writes.push(buf.toString());
    },
    reset: async () => undefined,
    close: async () => {
      state.closed = true;
    },
  };
  return { sink, writes, state, release: () => release?.() };
}

async function counter(registry: Registry, name: string, labels = ''): Promise<number> {
  const text = await registry.metrics();
  const m = new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const tick = () => new Promise((r) => setImmediate(r));

describe('LogBackend', () => {
  it('batches the events of one turn into one write, in order', async () => {
    const registry = new Registry();
    const g = gatedSink();
    const b = new LogBackend({ sink: g.sink, metrics: auditMetrics(registry), logger: silentLogger() });
    for (let i = 0; i < 5; i++) b.process(`{"n":${i}}\n`);
    assert.equal(g.writes.length, 0, 'process never writes synchronously');
    await tick();
    await tick();
    assert.deepEqual(g.writes, ['{"n":0}\n{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n']);
    await b.close();
    assert.equal(g.state.closed, true);
  });

  it('caps a batch at batchMaxSize and drops (counting plugin "buffered") beyond bufferSize while a write hangs', async () => {
    const registry = new Registry();
    const g = gatedSink();
    g.state.gated = true;
    const b = new LogBackend({ sink: g.sink, metrics: auditMetrics(registry), logger: silentLogger(), bufferSize: 3, batchMaxSize: 2 });
    b.process('a\n');
    await tick(); // the write of [a] is in flight and hangs
    for (const l of ['b\n', 'c\n', 'd\n', 'e\n', 'f\n']) b.process(l);
    assert.equal(await counter(registry, 'apiserver_audit_error_total', '{plugin="buffered"}'), 2, 'e and f found the buffer full');
    g.state.gated = false;
    g.release();
    const closing = b.close();
    await closing;
    assert.deepEqual(g.writes, ['a\n', 'b\nc\n', 'd\n']);
  });

  it('a failing write drops its batch, counts plugin "log", logs, and later writes still go out', async () => {
    const registry = new Registry();
    const g = gatedSink();
    const logged: unknown[] = [];
    const logger = silentLogger();
    logger.error = ((obj: unknown) => void logged.push(obj)) as typeof logger.error;
    const b = new LogBackend({ sink: g.sink, metrics: auditMetrics(registry), logger });
    g.state.failing = true;
    b.process('x\n');
    b.process('y\n');
    await tick();
    await tick();
    assert.equal(await counter(registry, 'apiserver_audit_error_total', '{plugin="log"}'), 2);
    assert.equal(logged.length, 1);
    assert.match(String((logged[0] as { err: Error }).err.message), /ENOSPC/);
    g.state.failing = false;
    b.process('z\n');
    await b.close();
    assert.deepEqual(g.writes, ['z\n']);
    b.process('late\n');
    assert.equal(await counter(registry, 'apiserver_audit_error_total', '{plugin="log"}'), 3, 'after close an event is counted as lost');
  });
});
