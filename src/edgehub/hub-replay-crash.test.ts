/**
 * The hub killed (SIGKILL, a real child process) while it replays its journal, then restarted on
 * the same data dir: no journaled write is lost and none is applied twice: every Event exactly
 * once under the name the hub gave it, every pod's last status in the cloud and each status
 * written once, no conflict reported for the hub's own replayed writes.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { KubeObject } from '../api/object.ts';
import { startTestServer, testToken } from '../apiserver/testing/test-server.ts';
import { HttpKubeClient } from '../client/http-client.ts';
import { loadKubeconfig } from '../client/kubeconfig.ts';
import { Resources } from '../client/resources.ts';
import type { WatchEvent } from '../client/types.ts';
import { nodePod, until } from './testing/hub-rig.ts';
import type { HubProcessConfig } from './testing/hub-process.ts';
import { TcpLink } from './testing/tcp-link.ts';

const NODE = 'edge-crash';
const PODS = 10;
/** journaled offline: half Events, half status patches */
const WRITES = 400;

interface HubChild {
  proc: ChildProcessByStdio<null, Readable, Readable>;
  lines: Record<string, unknown>[];
  exited: Promise<NodeJS.Signals | number | null>;
  /** resolves with the first line (from the start) that satisfies `pred` */
  line(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

function spawnHub(cfg: HubProcessConfig): HubChild {
  const script = fileURLToPath(new URL('./testing/hub-process.ts', import.meta.url));
  const proc = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => proc.on('exit', (code, signal) => resolve(signal ?? code)));
  let gone = false;
  void exited.then(() => (gone = true));
  return {
    proc,
    lines,
    exited,
    async line(pred, timeoutMs = 60_000) {
      await until(`hub process line (stderr: ${stderr.slice(-2_000)})`, () => {
        if (gone && !lines.some(pred)) throw new Error(`hub process exited: ${stderr.slice(-2_000)}`);
        return lines.some(pred);
      }, timeoutMs);
      return lines.find(pred)!;
    },
  };
}

const lastState = (c: HubChild): unknown => [...c.lines].reverse().find((l) => 'state' in l)?.state;

describe('edgehub killed mid-replay', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('SIGKILL while replaying, restart on the same data dir: no write lost, none applied twice', { timeout: 300_000 }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'edgehub-crash-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const cloud = await startTestServer();
    cleanups.push(() => cloud.close());
    const u = new URL(cloud.url);
    const link = await TcpLink.open({ host: u.hostname, port: Number(u.port) });
    cleanups.push(() => link.close());
    const admin = new HttpKubeClient({ server: cloud.url, token: testToken });
    cleanups.push(() => admin.close());
    await admin.create(Resources.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } });
    for (let i = 0; i < PODS; i++) await admin.create(Resources.pods, nodePod(NODE, `p${i}`));

    const cfg: HubProcessConfig = { nodeName: NODE, dir: join(dir, 'hub'), server: `http://127.0.0.1:${link.port}`, token: testToken };
    const first = spawnHub(cfg);
    cleanups.push(async () => first.proc.kill('SIGKILL'));
    const { kubeconfig } = (await first.line((l) => 'kubeconfig' in l)) as { kubeconfig: string };
    await first.line((l) => l.state === 'online');
    const local = new HttpKubeClient({ ...(await loadKubeconfig(kubeconfig)), requestTimeoutMs: 30_000 });
    await until('pods replicated', async () => (await local.list(Resources.pods, { fieldSelector: `spec.nodeName=${NODE}` })).items.length === PODS, 30_000);

    link.cut();
    await until('the hub is offline', () => lastState(first) === 'offline', 10_000);
    const eventNames = new Map<string, string>();
    const lastStatus = new Map<string, string>();
    for (let i = 0; i < WRITES; i++) {
      if (i % 2 === 0) {
        const ev = await local.create(Resources.events, { metadata: { generateName: 'crash.', namespace: 'default' }, involvedObject: { kind: 'Node', name: NODE }, reason: 'Crash', message: `e-${i}`, type: 'Normal' } as KubeObject);
        eventNames.set(`e-${i}`, ev.metadata.name ?? '');
      } else {
        const pod = `p${(i >> 1) % PODS}`;
        await local.patch(Resources.pods, pod, 'merge', { status: { phase: 'Running', message: `s-${i}` } }, { namespace: 'default', subresource: 'status' });
        lastStatus.set(pod, `s-${i}`);
      }
    }
    await local.close();
    const journal = (): number => {
      const db = new Database(join(cfg.dir, 'hub.db'), { readonly: true, fileMustExist: true });
      try {
        return (db.prepare('SELECT count(*) AS n FROM journal').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    assert.equal(journal(), WRITES);

    // what the cloud receives, as it happens
    const ac = new AbortController();
    cleanups.push(async () => ac.abort());
    const startRv = (await admin.list(Resources.events, { namespace: 'default' })).metadata.resourceVersion;
    const eventsSeen: WatchEvent[] = [];
    const podsSeen: WatchEvent[] = [];
    for (const [res, sink] of [[Resources.events, eventsSeen], [Resources.pods, podsSeen]] as const) {
      void (async () => {
        try {
          for await (const ev of admin.watch(res, { namespace: 'default', resourceVersion: startRv, signal: ac.signal })) sink.push(ev);
        } catch {
          // ended by the abort
        }
      })();
    }

    link.restore();
    // a quarter of the way through the replay (the pod writes interleave with the Events)
    await until('replay under way', () => eventsSeen.length >= WRITES / 8, 60_000);
    first.proc.kill('SIGKILL');
    assert.equal(await first.exited, 'SIGKILL');
    const stateAtKill = lastState(first);
    const left = journal();
    t.diagnostic(`killed in state ${String(stateAtKill)} with ${eventsSeen.length} Events in the cloud and ${left} of ${WRITES} entries journaled`);
    assert.equal(stateAtKill, 'replaying', 'killed while replaying');
    assert.ok(left > 0 && left < WRITES, `killed mid-replay: ${left} of ${WRITES} entries left`);

    const second = spawnHub(cfg);
    cleanups.push(async () => second.proc.kill('SIGKILL'));
    await second.line((l) => l.state === 'online', 120_000);
    assert.equal(journal(), 0, 'the journal drained');

    // Events: each exactly once, under the name the hub answered with
    const events = (await admin.list(Resources.events, { namespace: 'default' })).items;
    const byMessage = new Map<string, string[]>();
    for (const e of events) {
      const m = String((e as { message?: string }).message ?? '');
      byMessage.set(m, [...(byMessage.get(m) ?? []), e.metadata.name ?? '']);
    }
    for (const [m, name] of eventNames) assert.deepEqual(byMessage.get(m), [name], `event ${m}`);
    assert.equal(events.filter((e) => (e as { reason?: string }).reason === 'Crash').length, eventNames.size, 'no other Crash events');
    assert.equal(eventsSeen.filter((e) => e.type === 'ADDED' && (e.object as { reason?: string }).reason === 'Crash').length, eventNames.size, 'each Event created once');
    assert.deepEqual(events.filter((e) => (e as { reason?: string }).reason === 'OfflineWriteConflict').map((e) => (e as { message?: string }).message), [], 'the hub\'s own replayed writes are no conflict');

    // status: the last one journaled per pod, and each status written to the cloud at most once
    for (const [pod, msg] of lastStatus) {
      const p = await admin.get(Resources.pods, pod, { namespace: 'default' });
      assert.equal((p.status as { message?: string } | undefined)?.message, msg, `status of ${pod}`);
    }
    const seenMessages = (): Set<unknown> => new Set(podsSeen.map((e) => (e.object.status as { message?: string } | undefined)?.message));
    await until('the cloud watch caught up', () => [...lastStatus.values()].every((m) => seenMessages().has(m)), 10_000);
    const statusWrites = new Map<string, number>();
    for (const e of podsSeen) {
      const m = (e.object.status as { message?: string } | undefined)?.message;
      if (e.type === 'MODIFIED' && m) statusWrites.set(m, (statusWrites.get(m) ?? 0) + 1);
    }
    for (const [m, n] of statusWrites) assert.equal(n, 1, `status ${m} written ${n} times`);
    assert.equal(statusWrites.size, WRITES / 2, 'every status patch reached the cloud');

    second.proc.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });
});
