import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Event, Pod } from 'kubernetes-types/core/v1.js';
import { HedgeError } from '../lib/errors.ts';
import { silentLogger } from '../lib/log.ts';
import { FakeClock } from './clock.ts';
import { EventRecorder, MemoryEventSink } from './event-recorder.ts';
import { FakeKubeClient } from './fake-client.ts';
import { Resources } from './resources.ts';

const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'crashy', namespace: 'default', uid: 'u-1' } };

function setup(): { client: FakeKubeClient; clock: FakeClock; rec: EventRecorder } {
  const client = new FakeKubeClient();
  const clock = new FakeClock();
  const rec = new EventRecorder({ client, component: 'kubelet', host: 'edge-1', instance: 'edge-1', clock, logger: silentLogger() });
  return { client, clock, rec };
}

async function events(client: FakeKubeClient): Promise<Event[]> {
  return (await client.list(Resources.events, { namespace: 'default' })).items as unknown as Event[];
}

test('event recorder: a CrashLoopBackOff pod reported every pass folds into one Event with a count', async () => {
  const { client, clock, rec } = setup();
  const backOff = { involved: pod, type: 'Warning' as const, reason: 'BackOff', message: 'Back-off restarting failed container app' };
  await rec.record(backOff);
  for (let pass = 0; pass < 4; pass++) {
    clock.advance(10_000);
    await rec.record(backOff);
  }
  const evs = await events(client);
  assert.equal(evs.length, 1, 'one Event, not one per pass');
  const [ev] = evs;
  assert.equal(ev.count, 5);
  assert.equal(ev.series?.count, 5);
  assert.equal(ev.firstTimestamp, '2026-01-01T00:00:00Z');
  assert.equal(ev.lastTimestamp, '2026-01-01T00:00:40Z');
  assert.deepEqual(ev.source, { component: 'kubelet', host: 'edge-1' });
  assert.equal(ev.involvedObject.uid, 'u-1');
});

test('event recorder: fire-and-forget repeats issued at once still fold (writes of one key run in order)', async () => {
  const { client, rec } = setup();
  const started = { involved: pod, type: 'Normal' as const, reason: 'Started', message: 'Started container app' };
  await Promise.all([rec.record(started), rec.record(started), rec.record(started)]);
  const evs = await events(client);
  assert.equal(evs.length, 1);
  assert.equal(evs[0].count, 3);
});

test('event recorder: another message or object is another Event; a deleted Event or a forgotten object starts over', async () => {
  const { client, rec } = setup();
  await rec.record({ involved: pod, type: 'Warning', reason: 'Failed', message: 'a' });
  await rec.record({ involved: pod, type: 'Warning', reason: 'Failed', message: 'b' });
  const other = { ...pod, metadata: { ...pod.metadata, name: 'other', uid: 'u-2' } };
  await rec.record({ involved: other, type: 'Warning', reason: 'Failed', message: 'a' });
  assert.equal((await events(client)).length, 3);

  const first = (await events(client)).find((e) => e.message === 'a' && e.involvedObject.uid === 'u-1');
  await client.delete(Resources.events, first?.metadata?.name ?? '', { namespace: 'default' });
  await rec.record({ involved: pod, type: 'Warning', reason: 'Failed', message: 'a' });
  const recreated = (await events(client)).filter((e) => e.message === 'a' && e.involvedObject.uid === 'u-1');
  assert.equal(recreated.length, 1);
  assert.equal(recreated[0].count, 1);

  rec.forget('u-2');
  await rec.record({ involved: other, type: 'Warning', reason: 'Failed', message: 'a' });
  assert.equal((await events(client)).filter((e) => e.involvedObject.uid === 'u-2').length, 2);
});

test('event recorder: a failed write is logged, never thrown', async () => {
  const { client, rec } = setup();
  client.failNext('create', new HedgeError('Unavailable', 'down'));
  await rec.record({ involved: pod, type: 'Normal', reason: 'Pulled', message: 'x' });
  assert.equal((await events(client)).length, 0);
});

test('memory event sink: keeps what was emitted', () => {
  const sink = new MemoryEventSink();
  sink.emit({ involved: pod, type: 'Normal', reason: 'Pulling', message: 'Pulling image "x"' });
  assert.deepEqual(sink.events, [{ kind: 'Pod', name: 'crashy', type: 'Normal', reason: 'Pulling', message: 'Pulling image "x"' }]);
});
