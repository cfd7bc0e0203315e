/**
 * Pod create → Running through the whole system (apiserver, scheduler, agent, CNI, conmon,
 * runtime; image cached), for runc and gVisor, beside a bare `runc run -d` / `runsc run --detach`
 * of an equivalent busybox bundle in the same run. Created via the API (no kubectl); "Running" is
 * observed by polling the pod every 10 ms. Prints a markdown table; asserts nothing. Needs root.
 * Run: node --import tsx bench/pod-start.ts [iterations=10]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { makeBusyboxRootfs } from '../src/agent/runtime/oci/test-support.ts';
import { startEdgeStack } from '../test/e2e/edge-stack.ts';
import { edgeNodeSkipReason } from '../test/e2e/node-harness.ts';

const iterations = Number(process.argv[2] ?? 10);
const RUNTIMES = [
  { rc: 'runc', bin: '/usr/sbin/runc', global: [] as string[], detach: '-d' },
  { rc: 'gvisor', bin: '/usr/bin/runsc', global: ['--network=host', '--platform=ptrace'], detach: '--detach' },
];

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : '-');

const skip = edgeNodeSkipReason(['/usr/sbin/runc', '/usr/bin/runsc', '/usr/bin/conmon', '/usr/bin/docker-registry', '/usr/lib/cni/bridge', '/bin/busybox']);
if (skip) {
  console.log(`pod-start bench skipped: ${skip}`);
  process.exit(0);
}

function bareRun(rt: (typeof RUNTIMES)[number], bundle: string, root: string, id: string): number {
  const t0 = performance.now();
  execFileSync(rt.bin, [...rt.global, `--root=${root}`, 'run', rt.detach, '--bundle', bundle, id], { stdio: 'ignore' });
  const t = performance.now() - t0;
  execFileSync(rt.bin, [...rt.global, `--root=${root}`, 'delete', '--force', id], { stdio: 'ignore' });
  return t;
}

const stack = await startEdgeStack({ nodeName: `bench-${process.pid}` });
const tmp = mkdtempSync(join(tmpdir(), 'hedge-bench-podstart-'));
const results: string[][] = [];
try {
  const bundle = join(tmp, 'bundle');
  makeBusyboxRootfs(join(bundle, 'rootfs'));
  execFileSync('/usr/sbin/runc', ['spec', '--bundle', bundle]);
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] }; linux: { namespaces: { type: string }[] } };
  spec.process.terminal = false;
  spec.process.args = ['sleep', '3600'];
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const specNoNet = { ...spec, linux: { ...spec.linux, namespaces: spec.linux.namespaces.filter((n) => n.type !== 'network') } };
  const bundleGv = join(tmp, 'bundle-gv');
  execFileSync('cp', ['-a', bundle, bundleGv]);
  writeFileSync(join(bundleGv, 'config.json'), JSON.stringify(specNoNet));

  const api = stack.server.api;
  const waitRunning = async (name: string): Promise<void> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await api('GET', `/api/v1/namespaces/default/pods/${name}`);
      if ((r.body as Pod).status?.phase === 'Running') return;
      if (Date.now() > deadline) throw new Error(`${name} not Running: ${JSON.stringify((r.body as Pod).status)}`);
      await new Promise((res) => setTimeout(res, 10));
    }
  };
  const deletePod = async (name: string): Promise<void> => {
    await api('DELETE', `/api/v1/namespaces/default/pods/${name}`, { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 });
  };
  const podOf = (name: string, rc: string): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { runtimeClassName: rc, terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: stack.busyboxImage, command: ['sleep', '3600'] }] },
  });

  for (const rt of RUNTIMES) {
    // warm-up pod: pulls and unpacks the image, so the measured ones find it cached
    await api('POST', '/api/v1/namespaces/default/pods', podOf(`warm-${rt.rc}`, rt.rc));
    await waitRunning(`warm-${rt.rc}`);
    await deletePod(`warm-${rt.rc}`);
    const system: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const name = `ps-${rt.rc}-${i}`;
      const t0 = performance.now();
      const r = await api('POST', '/api/v1/namespaces/default/pods', podOf(name, rt.rc));
      if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      await waitRunning(name);
      system.push(performance.now() - t0);
      // interleaved, so both sides see the same machine load
      bare.push(bareRun(rt, rt.rc === 'gvisor' ? bundleGv : bundle, join(tmp, `root-${rt.rc}`), `bare-${rt.rc}-${i}`));
      await deletePod(name);
    }
    results.push([rt.rc, String(iterations), ms(pct(system, 50)), ms(pct(system, 99)), ms(pct(bare, 50)), ms(pct(bare, 99)), (pct(system, 50) / pct(bare, 50)).toFixed(1)]);
  }
} finally {
  await stack.close();
  rmSync(tmp, { recursive: true, force: true });
}

console.log('\n### pod create → Running (image cached), whole system vs bare runtime\n');
console.log('| runtime | n | hedge p50 ms | hedge p99 ms | bare run p50 ms | bare run p99 ms | hedge/bare p50 |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const r of results) console.log(`| ${r.join(' | ')} |`);
console.log('\nTargets (TARGETS.md): runc p50 ≤ 300 ms, gVisor p50 ≤ 600 ms. Bare = `runc run -d` / `runsc run --detach` of a busybox `sleep` bundle (no conmon, no CNI, no API).');
