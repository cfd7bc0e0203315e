/**
 * The one behaviour suite every RuntimeHandler passes (OCI runc/crun/runsc, microVM) and so does
 * the in-memory fake the agent tests use, so the fake cannot drift from the real handlers.
 *
 * The suite talks about workloads, not commands: each implementation's fixture turns a
 * `Workload` into a ContainerConfig (a busybox shell script for the real handlers, a behaviour
 * for the fake). One sandbox serves the whole suite (a microVM boot is slow under TCG).
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { isHedgeError, type ErrorCode } from '../../lib/errors.ts';
import type { ContainerConfig, ContainerId, ContainerState, RuntimeHandler, SandboxConfig, SandboxId, SandboxInfo } from './types.ts';

export type Workload =
  /** exits at once with `code` */
  | { kind: 'exit'; code: number }
  /** runs until stopped; exits with 143 on SIGTERM (a shell trapping TERM) */
  | { kind: 'run' }
  /** runs until stopped and ignores SIGTERM, so only SIGKILL ends it (exit 137) */
  | { kind: 'ignore-term' }
  /** burns CPU until stopped; exits with 143 on SIGTERM */
  | { kind: 'busy' }
  /**
   * writes `fill` bytes of `x`, then `text` and a newline to `path` (its terminationMessagePath,
   * which the suite sets), then exits with `code`; `text` is plain words
   */
  | { kind: 'message'; path: string; fill: number; text: string; code: number };

/** the shell command a real handler runs for a workload (busybox sh); the rootfs may be shared, hence the id */
export function workloadCommand(w: Workload, id: ContainerId): string[] {
  const ready = `: > /tmp/ready-${id}`;
  switch (w.kind) {
    case 'exit':
      return ['sh', '-c', `exit ${w.code}`];
    case 'run':
      return ['sh', '-c', `trap 'exit 143' TERM; ${ready}; while true; do sleep 1; done`];
    case 'ignore-term':
      return ['sh', '-c', `trap '' TERM; ${ready}; while true; do sleep 1; done`];
    case 'busy':
      return ['sh', '-c', `trap 'exit 143' TERM; ${ready}; while true; do :; done`];
    case 'message':
      return ['sh', '-c', `{ head -c ${w.fill} /dev/zero | tr '\\0' x; echo '${w.text}'; } > '${w.path}'; exit ${w.code}`];
    default: {
      const never: never = w;
      throw new Error(`unknown workload ${JSON.stringify(never)}`);
    }
  }
}

/** what the exec test runs: prints `hi` on stdout and `oops` on stderr, exits 7 */
export const EXEC_PROBE = ['sh', '-c', 'echo hi; echo oops >&2; exit 7'];
/**
 * exits 0 once a long-running workload has set its signal handling up (a SIGTERM that lands
 * before the shell ran `trap` would decide the exit code instead: seen under TCG)
 */
export const readyProbe = (id: ContainerId): string[] => ['sh', '-c', `[ -e /tmp/ready-${id} ]`];

export interface RuntimeUnderTest {
  handler: RuntimeHandler;
  /** the suite's one sandbox */
  sandbox: SandboxConfig;
  /** a container of the suite's sandbox running `workload` */
  container(o: { id: ContainerId; workload: Workload; labels: Record<string, string>; annotations: Record<string, string> }): ContainerConfig;
  /** frees what the fixture made (netns, temp dirs, cgroups); runs even after failures */
  cleanup(): Promise<void>;
}

export interface RuntimeContractOptions {
  /** a printed reason to skip (not root, binary missing); never skip silently */
  skip?: string | undefined;
  /** per-test timeout; the microVM under TCG wants more */
  timeoutMs?: number;
}

const sig = (ms = 60_000): AbortSignal => AbortSignal.timeout(ms);

async function waitUntil(what: string, cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function code(c: ErrorCode): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isHedgeError(err, c), `expected HedgeError ${c}, got ${String(err)}`);
    return true;
  };
}

export function runRuntimeContract(name: string, make: () => Promise<RuntimeUnderTest>, opts: RuntimeContractOptions = {}): void {
  describe(`RuntimeHandler contract: ${name}`, { skip: opts.skip ?? false, concurrency: false }, () => {
    let t: RuntimeUnderTest | undefined;
    let info: SandboxInfo | undefined;
    let n = 0;
    const h = (): RuntimeHandler => {
      assert.ok(t, 'fixture made');
      return t.handler;
    };
    const sid = (): SandboxId => {
      assert.ok(t, 'fixture made');
      return t.sandbox.id;
    };
    const create = async (workload: Workload, labels: Record<string, string> = {}): Promise<ContainerId> => {
      assert.ok(t, 'fixture made');
      const id = `ct${n++}-${Math.random().toString(16).slice(2, 8)}` as ContainerId;
      const cfg = t.container({ id, workload, labels, annotations: { 'contract/n': String(n) } });
      await t.handler.createContainer(workload.kind === 'message' ? { ...cfg, terminationMessagePath: workload.path } : cfg, sig());
      return id;
    };
    const state = async (id: ContainerId): Promise<ContainerState> => (await h().status(id, sig())).status;
    const exited = async (id: ContainerId): Promise<Extract<ContainerState, { state: 'exited' }>> => {
      await waitUntil(`${id} to exit`, async () => (await state(id)).state === 'exited');
      const s = await state(id);
      assert.ok(s.state === 'exited');
      return s;
    };
    /** start a long-running workload and wait until its shell has set its traps */
    const startReady = async (id: ContainerId): Promise<void> => {
      await h().start(id, sig());
      await waitUntil(`${id} ready`, async () => (await h().exec(id, { command: readyProbe(id), tty: false, signal: sig() })) === 0);
    };
    const it = (title: string, fn: () => Promise<void>): void => {
      test(title, { timeout: opts.timeoutMs ?? 60_000 }, fn);
    };

    before(async () => {
      t = await make();
      info = await t.handler.createSandbox(t.sandbox, sig(opts.timeoutMs ?? 60_000));
    });

    after(async () => {
      if (!t) return;
      await t.handler.removeSandbox(t.sandbox.id, sig()).catch(() => undefined);
      await t.cleanup();
    });

    it('createSandbox answers with the sandbox id and the handler name', async () => {
      assert.equal(info?.id, sid());
      assert.equal(info?.handler, h().name);
    });

    it('a created container is listed as created with its name, labels and annotations; a second create is AlreadyExists', async () => {
      assert.ok(t);
      const id = await create({ kind: 'run' }, { app: 'contract' });
      const st = await h().status(id, sig());
      assert.equal(st.id, id);
      assert.equal(st.sandboxId, sid());
      assert.equal(st.status.state, 'created');
      assert.deepEqual(st.labels, { app: 'contract' });
      assert.equal(typeof st.annotations['contract/n'], 'string');
      const cfg = t.container({ id, workload: { kind: 'run' }, labels: {}, annotations: {} });
      assert.equal(st.name, cfg.name);
      const listed = (await h().list(sig())).find((c) => c.id === id);
      assert.ok(listed, 'listed');
      assert.equal(listed.status.state, 'created');
      assert.deepEqual(listed.labels, { app: 'contract' });
      await assert.rejects(h().createContainer(cfg, sig()), code('AlreadyExists'));
      await h().remove(id, sig());
      assert.equal((await h().list(sig())).find((c) => c.id === id), undefined, 'a removed created container is gone');
    });

    it('start runs it; stop sends SIGTERM and records the exit code; remove is idempotent and forgets it', async () => {
      const id = await create({ kind: 'run' });
      const before = Date.now();
      await startReady(id);
      const running = await state(id);
      assert.ok(running.state === 'running', JSON.stringify(running));
      assert.ok(running.pid > 0, 'a pid');
      assert.ok(running.startedAt.getTime() >= before - 2000, 'startedAt is now');
      await h().stop(id, { timeoutSeconds: 30, signal: sig() });
      const ex = await state(id);
      assert.ok(ex.state === 'exited', JSON.stringify(ex));
      assert.equal(ex.exitCode, 143, 'the TERM trap decides the code');
      assert.equal(ex.reason, 'Error');
      assert.ok(ex.startedAt instanceof Date && ex.finishedAt.getTime() >= ex.startedAt.getTime(), JSON.stringify(ex));
      await h().stop(id, { timeoutSeconds: 1, signal: sig() }); // stopping an exited container is a no-op
      assert.equal(((await state(id)) as { exitCode?: number }).exitCode, 143);
      await h().remove(id, sig());
      await h().remove(id, sig());
      await assert.rejects(h().status(id, sig()), code('NotFound'));
      assert.equal((await h().list(sig())).find((c) => c.id === id), undefined);
    });

    it('a process ignoring SIGTERM is SIGKILLed after the grace period (137)', async () => {
      const id = await create({ kind: 'ignore-term' });
      await startReady(id);
      assert.equal((await state(id)).state, 'running');
      await h().stop(id, { timeoutSeconds: 1, signal: sig() });
      const ex = await state(id);
      assert.ok(ex.state === 'exited' && ex.exitCode === 137 && ex.reason === 'Error', JSON.stringify(ex));
      await h().remove(id, sig());
    });

    it('a process that ends on its own reports its exit code: 0 Completed, 3 Error', async () => {
      const ok = await create({ kind: 'exit', code: 0 });
      const bad = await create({ kind: 'exit', code: 3 });
      await h().start(ok, sig());
      await h().start(bad, sig());
      const a = await exited(ok);
      const b = await exited(bad);
      assert.equal(a.exitCode, 0);
      assert.equal(a.reason, 'Completed');
      assert.equal(b.exitCode, 3);
      assert.equal(b.reason, 'Error');
      assert.equal(b.message, undefined, 'no terminationMessagePath, no message');
      assert.ok(b.finishedAt instanceof Date && b.startedAt instanceof Date);
      await h().remove(ok, sig());
      await h().remove(bad, sig());
    });

    it('a container writes its termination message file: the exit reports it, the last 4 KiB of a longer one', async () => {
      const short = await create({ kind: 'message', path: '/dev/termination-log', fill: 0, text: 'all done', code: 0 });
      const long = await create({ kind: 'message', path: '/var/run/msg/why', fill: 5000, text: 'the end', code: 2 });
      // has the file and leaves it empty
      assert.ok(t);
      const silent = `ct${n++}-silent` as ContainerId;
      await h().createContainer({ ...t.container({ id: silent, workload: { kind: 'exit', code: 1 }, labels: {}, annotations: {} }), terminationMessagePath: '/dev/termination-log' }, sig());
      for (const id of [short, long, silent]) await h().start(id, sig());
      const a = await exited(short);
      assert.equal(a.message, 'all done\n');
      assert.equal(a.reason, 'Completed');
      const b = await exited(long);
      assert.equal(b.exitCode, 2);
      assert.equal(b.message?.length, 4096, 'cut to the last 4 KiB');
      assert.ok(b.message?.endsWith('xthe end\n'), JSON.stringify(b.message?.slice(-20)));
      const c = await exited(silent);
      assert.equal(c.message, undefined, 'an empty file is no message');
      for (const id of [short, long, silent]) await h().remove(id, sig());
    });

    it('stats are non-negative, a running container uses memory, and CPU time grows for a busy process', async () => {
      const id = await create({ kind: 'busy' });
      await startReady(id);
      const s1 = await h().stats(id, sig());
      assert.ok(s1.timestamp instanceof Date);
      assert.ok(s1.cpu.usageCoreNanoSeconds >= 0);
      assert.ok(s1.memory.usageBytes > 0, `memory ${s1.memory.usageBytes}`);
      assert.ok(s1.memory.workingSetBytes >= 0 && s1.memory.rssBytes >= 0);
      let s2 = s1;
      await waitUntil('CPU time to grow', async () => {
        s2 = await h().stats(id, sig());
        return s2.cpu.usageCoreNanoSeconds > s1.cpu.usageCoreNanoSeconds;
      });
      assert.ok(s2.cpu.usageNanoCores === undefined || s2.cpu.usageNanoCores >= 0);
      const ss = await h().sandboxStats(sid(), sig());
      assert.ok(ss.cpu.usageCoreNanoSeconds >= s1.cpu.usageCoreNanoSeconds, 'the sandbox includes its containers');
      assert.ok(ss.memory.usageBytes > 0);
      await h().stop(id, { timeoutSeconds: 10, signal: sig() });
      await h().remove(id, sig());
    });

    it('exec returns the exit code and streams stdout and stderr; exec in a container that is not running is refused', async () => {
      const id = await create({ kind: 'run' });
      await startReady(id);
      let out = '';
      let err = '';
      const stdout = new PassThrough().on('data', (d: Buffer) => (out += d.toString()));
      const stderr = new PassThrough().on('data', (d: Buffer) => (err += d.toString()));
      assert.equal(await h().exec(id, { command: EXEC_PROBE, tty: false, stdout, stderr, signal: sig() }), 7);
      assert.equal(out.trim(), 'hi');
      assert.equal(err.trim(), 'oops');
      await h().stop(id, { timeoutSeconds: 10, signal: sig() });
      await assert.rejects(h().exec(id, { command: EXEC_PROBE, tty: false, signal: sig() }), code('Conflict'));
      await h().remove(id, sig());
    });

    it('unknown ids: status, start, stop, stats and exec are NotFound; remove is a no-op; a container needs its sandbox', async () => {
      assert.ok(t);
      const ghost = 'no-such-container' as ContainerId;
      await assert.rejects(h().status(ghost, sig()), code('NotFound'));
      await assert.rejects(h().start(ghost, sig()), code('NotFound'));
      await assert.rejects(h().stop(ghost, { timeoutSeconds: 1, signal: sig() }), code('NotFound'));
      await assert.rejects(h().stats(ghost, sig()), code('NotFound'));
      await assert.rejects(h().exec(ghost, { command: ['true'], tty: false, signal: sig() }), code('NotFound'));
      await h().remove(ghost, sig());
      await assert.rejects(h().sandboxStats('no-such-sandbox' as SandboxId, sig()), code('NotFound'));
      const orphan = { ...t.container({ id: 'orphan' as ContainerId, workload: { kind: 'run' }, labels: {}, annotations: {} }), sandboxId: 'no-such-sandbox' as SandboxId };
      await assert.rejects(h().createContainer(orphan, sig()), code('NotFound'));
      assert.equal((await h().list(sig())).find((c) => c.id === orphan.id), undefined, 'nothing half-made');
    });

    it('removeSandbox stops and removes its containers and is idempotent', async () => {
      const a = await create({ kind: 'run' });
      const b = await create({ kind: 'exit', code: 0 });
      await startReady(a);
      await h().removeSandbox(sid(), sig());
      await h().removeSandbox(sid(), sig());
      const left = (await h().list(sig())).filter((c) => c.sandboxId === sid());
      assert.deepEqual(left, []);
      await assert.rejects(h().status(a, sig()), code('NotFound'));
      await assert.rejects(h().status(b, sig()), code('NotFound'));
    });
  });
}
