/**
 * A pod's cluster network path — netns, CNI ADD (Debian's bridge + host-local), the port guard;
 * then guard forget, CNI DEL, netns removal — as the agent runs it (GuardedNetworkPlugin over
 * CniNetworkPlugin), from two source trees interleaved in one process, so both see the same
 * machine load: BASE (e.g. an unpacked `git archive main`, node_modules linked) and this tree.
 * Five pods stay attached on each side throughout (a node with pods: the fast path has ports).
 * Bridges start2a0/start2b0-like names with a per-run suffix, subnets 10.231.20-21.0/24; all
 * removed at the end. Needs root, nft and the CNI plugins. Prints p50s; asserts nothing.
 * Run: node --import tsx bench/pod-network-ab.ts BASE [iterations=30]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { randomSuffix } from '../src/agent/network/test-helpers.ts';

const base = process.argv[2];
if (!base) throw new Error('usage: bench/pod-network-ab.ts BASE [iterations]');
const N = Number(process.argv[3] ?? 30);
const run = randomSuffix(2);
const load = async (root: string, tag: string, subnet: string) => {
  const { CniNetworkPlugin } = await import(`${root}/src/agent/network/cni-plugin.ts`);
  const { PodGuard } = await import(`${root}/src/agent/network/guard/pod-guard.ts`);
  const { GuardedNetworkPlugin } = await import(`${root}/src/agent/network/guard/guarded-network.ts`);
  const { runCommand } = await import(`${root}/src/agent/host/run-command.ts`);
  const dir = mkdtempSync(join(tmpdir(), `hedge-netab-${tag}-`));
  const bridge = `hab${tag}${run}`;
  const cni = new CniNetworkPlugin({ mode: { type: 'bridge', bridge, subnet, ipMasq: false }, dataDir: dir, netnsDir: join(dir, 'ns') });
  const guard = new PodGuard({ bridge });
  await runCommand('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await guard.ensure([1]);
  return { tag, dir, cni, guard, net: new GuardedNetworkPlugin(cni, guard) };
};
const sides = [await load(resolve(base), 'a', '10.231.20.0/24'), await load(resolve(import.meta.dirname, '..'), 'b', '10.231.21.0/24')];
const up: Record<string, number[]> = { a: [], b: [] };
const down: Record<string, number[]> = { a: [], b: [] };
const sb = (s: { tag: string; dir: string }, i: number) => ({ id: `hab${run}${s.tag}${i}`, pod: { uid: `u${i}`, namespace: 'default', name: `p${i}` }, netnsPath: join(s.dir, 'ns', `n${i}`), portMappings: [] });
const sig = () => AbortSignal.timeout(60_000);
try {
  // 5 pods stay attached on each side, so the fast path has ports, as on a node with pods
  for (const s of sides) for (let k = 0; k < 5; k++) { await s.net.prepare(sb(s, 1000 + k), sig()); await s.net.setUp(sb(s, 1000 + k), sig()); }
  for (let i = 0; i < N; i++) {
    for (const s of i % 2 ? [...sides].reverse() : sides) {
      const t0 = performance.now();
      await s.net.prepare(sb(s, i), sig());
      await s.net.setUp(sb(s, i), sig());
      const t1 = performance.now();
      await s.net.tearDown(sb(s, i), sig());
      up[s.tag].push(t1 - t0);
      down[s.tag].push(performance.now() - t1);
    }
  }
} finally {
  for (const s of sides) {
    for (let k = 0; k < 5; k++) await s.net.tearDown(sb(s, 1000 + k), sig()).catch((e: unknown) => console.error(e));
    await s.cni.destroy().catch((e: unknown) => console.error(e));
    await s.guard.destroy().catch((e: unknown) => console.error(e));
    rmSync(s.dir, { recursive: true, force: true });
  }
}
const p50 = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} (after)\n`);
console.log(`| code | n | netns + CNI ADD + guard p50 ms | CNI DEL + guard + netns p50 ms |\n| --- | --- | --- | --- |`);
for (const [k, name] of [['a', `base (${base})`], ['b', 'this tree']]) console.log(`| ${name} | ${up[k].length} | ${p50(up[k]).toFixed(0)} | ${p50(down[k]).toFixed(0)} |`);
