/**
 * The node's cgroup v2 code (src/agent/host/cgroup.ts, cgroup-v2.ts, stats/cgroup-v2.ts,
 * node/pods-cgroup.ts) against a real unified hierarchy: cgroup-v2-probe.ts run inside the test
 * machine (host-vm.ts) from this tree's sources, its findings checked here.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hostVmUnavailable, runInHostVm } from './host-vm.ts';

const skip = hostVmUnavailable();
/** tsx under TCG: ~15–30 s to start from the sources, the first time more (9p reads) */
const TIMEOUT = 600_000;
const LOCK_WAIT = 15 * 60_000;
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Probe {
  unified: boolean;
  hostProblem: string;
  pod: Record<string, string>;
  procs: string[];
  podStats?: { cpuNs: number; memory: number; workingSet: number; processes?: number; blkio?: unknown };
  ctr: { exit: string | number | null; oomKilled: boolean; podOomKilled: boolean };
  runc?: string[];
  runcCgroupLeft?: boolean;
  parent: Record<string, string>;
  nodeStats?: { cpuNs: number; memory: number; workingSet: number };
  removed: boolean;
}

test('cgroup v2 machine: pod cgroup limits, a process in it, its stats, a container OOM kill, node allocatable and root stats, removal', { skip, timeout: TIMEOUT + LOCK_WAIT + 60_000 }, async (t) => {
  const r = await runInHostVm({ command: ['node', '--import', 'tsx', 'test/vm/cgroup-v2-probe.ts'], cwd: REPO, timeoutMs: TIMEOUT, lockTimeoutMs: LOCK_WAIT });
  const why = `code ${r.code}${r.timedOut ? ' (timed out)' : ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}\nconsole:\n${r.console.slice(-3000)}`;
  assert.equal(r.code, 0, why);
  const line = r.stdout.split('\n').find((l) => l.startsWith('PROBE '));
  assert.ok(line, why);
  t.diagnostic(line);
  const p = JSON.parse(line.slice('PROBE '.length)) as Probe;
  assert.equal(p.unified, true);
  // the node accepts the guest's hierarchy: cpu, memory and pids are enabled at its root
  assert.equal(p.hostProblem, 'none');
  // 500m: quota 50000 of 100000; 512 shares → weight 20 (runc's conversion, as the runc case of host-vm.cases.ts reads)
  assert.deepEqual(p.pod, { 'cpu.max': '50000 100000', 'cpu.weight': '20', 'memory.max': String(64 << 20), parentSubtree: 'cpu io memory pids' }, why);
  assert.deepEqual(p.procs, ['hedge-probe/pod1/pod-procs/cgroup.procs']);
  assert.ok(p.podStats, why);
  assert.ok(p.podStats.cpuNs > 0, `pod CPU time ${p.podStats.cpuNs}`);
  assert.ok(p.podStats.memory > 0 && p.podStats.workingSet > 0, `pod memory ${JSON.stringify(p.podStats)}`);
  assert.ok((p.podStats.processes ?? 0) >= 1, `pod pids ${JSON.stringify(p.podStats)}`);
  assert.ok(p.podStats.blkio, 'io.stat read');
  assert.deepEqual(p.ctr, { exit: 'SIGKILL', oomKilled: true, podOomKilled: true }, why);
  // runc's container beside the process leaf: the pod's subtree_control took its controllers
  if (existsSync('/usr/sbin/runc')) {
    assert.deepEqual(p.runc, [String(32 << 20), '39'], why);
    assert.equal(p.runcCgroupLeft, false, 'runc removed its cgroup');
  }
  // 1024 shares → weight 39
  assert.deepEqual(p.parent, { 'memory.max': String(512 << 20), 'cpu.weight': '39', 'pids.max': '1000' });
  assert.ok(p.nodeStats, why);
  assert.ok(p.nodeStats.cpuNs > 0 && p.nodeStats.memory > p.podStats.memory && p.nodeStats.workingSet > 0, `node stats ${JSON.stringify(p.nodeStats)}`);
  assert.equal(p.removed, true);
});

/**
 * The failing cases of a TAP run on one line, each with its error (`name: error; …`): the cases
 * themselves, not the suites whose subtests failed. The failure list prints one line per test, so a
 * guest's flake is named there, not only in a log tail.
 */
function failedCases(tap: string): string {
  const lines = tap.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*not ok \d+ - (.*)$/.exec(lines[i]!);
    if (!m || m[1]!.includes('# TODO')) continue;
    let error = '';
    let suite = false;
    for (let j = i + 1; j < lines.length && lines[j]!.trim() !== '...'; j++) {
      if (lines[j]!.includes("failureType: 'subtestsFailed'")) suite = true;
      const e = /^\s*error: (.*)$/.exec(lines[j]!);
      // a multi-line error is a YAML block (`|-`): its first line follows
      if (e && !error) error = /^[|>]-?$/.test(e[1]!) ? (lines[j + 1] ?? '').trim() : e[1]!;
    }
    // the name cut short: the run's failure list keeps 300 characters of a test's message
    if (!suite) out.push(`${m[1]!.length > 60 ? `${m[1]!.slice(0, 60)}…` : m[1]}: ${error || '?'}`);
  }
  return out.join('; ');
}

/**
 * The handler suite's cases that touch the cgroup (the pod cgroup, stats, the cgroup namespace of the
 * escape table, shared PID namespace, a failed create's and the sandbox's cleanup). The rest (attach,
 * seccomp, log rotation, stop timeout, adoption) do not read or write a cgroup and cost TCG minutes.
 */
const CGROUP_CASES = '^(setup sandbox|lifecycle|escape attempts|exit code|a container whose process is killed|create:|pod namespaces|removeSandbox)';

test('cgroup v2 machine: the OCI handler suite\'s cgroup cases (runc and crun under conmon: pod cgroup, stats, shared PID namespace, removal) pass', { skip, timeout: TIMEOUT + LOCK_WAIT + 60_000 }, async (t) => {
  const r = await runInHostVm({
    command: ['node', '--import', 'tsx', '--test', `--test-name-pattern=${CGROUP_CASES}`, 'src/agent/runtime/oci/oci-handler.test.ts'],
    env: { HEDGE_OCI_RUNTIMES: 'runc,crun' },
    cwd: REPO,
    timeoutMs: TIMEOUT,
    lockTimeoutMs: LOCK_WAIT,
  });
  const failed = r.stdout.split('\n').filter((l) => /^\s*not ok /.test(l));
  // the first line is what the run's failure list shows (scripts/test-reporter.mjs): the guest's failing cases and their errors
  const why = `${failedCases(r.stdout) || `code ${r.code}${r.timedOut ? ' (timed out)' : ''}`}\nfailed: ${failed.join('\n')}\nstdout (tail):\n${r.stdout.slice(-6000)}\nstderr:\n${r.stderr.slice(-2000)}`;
  assert.equal(r.code, 0, why);
  assert.deepEqual(failed, [], why);
  assert.match(r.stdout, /^# pass [1-9]\d*$/m, why);
  // a suite that cannot run is `ok N - … # SKIP why`: both must have run
  assert.match(r.stdout, /^ok \d+ - OciRuntimeHandler with runc$/m, why);
  assert.match(r.stdout, /^ok \d+ - OciRuntimeHandler with crun$/m, why);
  // every selected case ran in both (a renamed case would otherwise drop out silently)
  const ran = r.stdout.split('\n').filter((l) => /^\s+ok \d+ - /.test(l) && !l.includes('# SKIP')).length;
  assert.equal(ran, 2 * 8, `cases run:\n${why}`);
  t.diagnostic(`guest run ${r.totalMs} ms (lock wait ${r.lockWaitMs} ms)`);
});
