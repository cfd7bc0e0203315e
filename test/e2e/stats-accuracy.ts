/**
 * Stats accuracy against ground truth, per runtime (shared by test/e2e/stats-accuracy.test.ts,
 * which asserts, and bench/stats-accuracy.ts, which prints the table). One single-container pod
 * runs a workload in phases separated by idle sleeps, logging a marker at each phase's begin and
 * end: it writes IO_MIB with O_DIRECT (busybox dd oflag=direct) and reads it back with
 * iflag=direct, puts MEM_MIB in /dev/shm (tmpfs: charged to the container's memory and all of it
 * working set), burns CPU_S CPU-seconds by its own clock (awk polls /proc/self/stat), then
 * serves NET_MIB and receives NET_MIB over TCP. /stats/summary and /metrics/cadvisor are
 * sampled through the apiserver's nodes/proxy all along; each figure is the difference between
 * the last sample before a phase began and the first after it ended.
 *
 * Semantics as kubelet: per container the container's figures; per pod the pod cgroup (for a
 * one-container pod, the same within the band); network only per pod (the pod's netns), block IO
 * only in the cAdvisor series (the summary API has none).
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Summary } from '../../src/agent/stats/summary.ts';
import { startEdgeStack, type EdgeStack } from './edge-stack.ts';
import { run } from './harness.ts';
import { waitUntil } from './pod-checks.ts';

export const IO_MIB = 32;
export const MEM_MIB = 64;
export const CPU_S = 3;
/** iterations of busybox awk's empty loop: ~3 CPU-s on this machine */
export const BURN_ITERATIONS = 4_500_000;
const BURN = `busybox awk 'BEGIN { for (i = 0; i < ${BURN_ITERATIONS}; i++) x++ }'`;
/** CPU-seconds the burn costs on the host kernel: a shell's reaped-children time (cutime + cstime) */
export function hostBurnSeconds(): number {
  const out = execFileSync('sh', ['-c', `${BURN}; cat /proc/$$/stat`], { encoding: 'utf8' });
  const f = out.slice(out.lastIndexOf(')') + 2).trim().split(/\s+/);
  // after ") ": state is field 3, so cutime (16) and cstime (17) are at 13 and 14
  return (Number(f[13]) + Number(f[14])) / 100;
}
export const NET_MIB = 32;
const MIB = 1024 * 1024;
const CGROUP = '/sys/fs/cgroup';

export interface AccuracyRow {
  runtime: string;
  /** e.g. "container cpu (summary)" */
  figure: string;
  expected: number;
  reported: number;
  unit: 'bytes' | 'ns' | 's';
  /** |reported - expected| / expected, % */
  errorPct: number;
  /** asserted within 5 %; false for figures with no independent ground truth (printed only) */
  asserted: boolean;
  note?: string;
}

const script = [
  'set -e',
  'mkdir -p /www',
  `busybox dd if=/dev/zero of=/www/blob bs=1M count=${NET_MIB} 2>/dev/null`,
  'sync',
  // nc's stdin never ends (a closed stdin would make it hang up early): it reads until the sender closes
  '(sleep 3600 | busybox nc -l -p 9000 > /dev/null) &',
  // served over plain TCP: busybox httpd under runsc (hostinet) resets large transfers here
  '(busybox nc -l -p 9001 < /www/blob) &',
  // a phase's window starts at the sample before it, which must fall after the previous marker: the
  // first gets longer, a node that just started the pod scrapes slowly
  'echo M:start; sleep 10',
  `echo M:io-begin; busybox dd if=/dev/zero of=/io.bin bs=1M count=${IO_MIB} oflag=direct 2>/dev/null; busybox dd if=/io.bin of=/dev/null bs=1M iflag=direct 2>/dev/null; echo M:io-end; sleep 6`,
  `echo M:mem-begin; busybox dd if=/dev/zero of=/dev/shm/m bs=1M count=${MEM_MIB} 2>/dev/null; echo M:mem-end; busybox df /dev/shm | sed 's/^/D: /'; cat /proc/self/cgroup | grep memory | sed 's/^/D: /'; echo M:quiet; sleep 6`,
  // the burn stops at CPU_S by the process's own utime+stime (fields 14, 15; 100 ticks/s) and prints
  // what its own clock says at the end (`S:cpu TICKS NS`, NS = /proc/self/schedstat's run time where
  // the kernel has it, else -1): under TCG a check every 20,000 iterations lands ~0.5 s apart, so the
  // burn overshoots CPU_S and its final reading is the truth. A fixed amount of work timed on the
  // host was tried as the truth: on a loaded host its cost varies by 20 %
  `echo M:cpu-begin; busybox awk 'BEGIN { for (;;) { for (i = 0; i < 20000; i++) x++; getline l < "/proc/self/stat"; close("/proc/self/stat"); split(l, f, " "); if (f[14] + f[15] >= ${CPU_S * 100}) break }; ns = -1; if ((getline s < "/proc/self/schedstat") > 0) { split(s, g, " "); ns = g[1] }; print "S:cpu", f[14] + f[15], ns }'; echo M:cpu-end; sleep 6`,
  'echo M:net',
  'exec sleep 3600',
].join('\n');

interface Sample {
  /** request sent (the data was read after this) */
  at: number;
  /** response received (the data was read before this) */
  done: number;
  summary: Summary;
  cadvisor: string;
  /** host CPU of every process in the pod's cgroup tree by per-task accounting, s (read just after the scrape) */
  podTaskCpuS: number;
}

/**
 * The host kernel's per-task accounting of a cgroup tree: utime+stime of every process in it (all
 * its threads, live and exited) plus cutime+cstime (the children it reaped), from /proc/PID/stat.
 * A different counter from the cgroup's cpuacct.usage that the node reads, so it is a ground truth
 * for the CPU the host really spent on the pod (what kubectl top and the HPA need), which is not
 * the sandbox's own clock under gVisor's ptrace platform.
 */
async function cgroupTaskCpuSeconds(dir: string): Promise<number> {
  const dirs = [dir, ...(await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory()).map((d) => `${dir}/${d.name}`)];
  let ticks = 0;
  for (const d of dirs) {
    for (const pid of (await readFile(`${d}/cgroup.procs`, 'utf8').catch(() => '')).split('\n').filter(Boolean)) {
      const st = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      const f = st.slice(st.lastIndexOf(')') + 2).trim().split(/\s+/);
      // after ") ": utime, stime, cutime, cstime are fields 14–17, at 11–14 here
      ticks += Number(f[11] ?? 0) + Number(f[12] ?? 0) + Number(f[13] ?? 0) + Number(f[14] ?? 0);
    }
  }
  return ticks / 100;
}

/** value of the cAdvisor series `name` whose labels include every pair in `match` */
export function cadvisorValue(text: string, name: string, match: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels = line.slice(name.length + 1, close);
    const has = ([k, v]: [string, string]): boolean => labels.startsWith(`${k}="${v}"`) || labels.includes(`,${k}="${v}"`);
    if (Object.entries(match).every(has)) return Number(line.slice(close + 1).trim());
  }
  return undefined;
}

/** every byte the peer sends until it closes */
function tcpReceive(ip: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const sock = connect({ host: ip, port });
    sock.setTimeout(60_000, () => sock.destroy(new Error(`${ip}:${port}: timeout`)));
    sock.on('data', (c: Buffer) => (n += c.length));
    sock.on('end', () => resolve(n));
    sock.on('error', reject);
  });
}

function tcpSend(ip: string, port: number, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: ip, port }, () => {
      const chunk = Buffer.alloc(MIB);
      let left = bytes;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!sock.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            sock.once('drain', pump);
            return;
          }
        }
        sock.end();
      };
      pump();
    });
    sock.on('close', () => resolve());
    sock.on('error', reject);
  });
}

/** A stack with one node offering `runtimes` (a microVM node boots the guest the tests build and cache). */
export async function startAccuracyStack(nodeName: string, runtimes: readonly string[]): Promise<EdgeStack> {
  const stack = await startEdgeStack({ nodes: [] });
  try {
    const extraArgs: string[] = [];
    if (runtimes.includes('microvm')) {
      const config = join(stack.tmp, 'node.yaml');
      await writeFile(config, `guestDir: ${join(tmpdir(), 'hedge-guest-cache')}\nmicrovmAccelerator: auto\n`);
      extraArgs.push('--config', config);
    }
    await stack.addNode({ name: nodeName, runtimes: [...runtimes], extraArgs });
    return stack;
  } catch (err) {
    await stack.close();
    throw err;
  }
}

/** Runs the workload in one pod of `runtimeClassName` on the stack's first node and compares. */
export async function measureAccuracy(stack: EdgeStack, runtimeClassName: string, opts: { podName?: string } = {}): Promise<AccuracyRow[]> {
  const s = stack;
  const nodeName = s.node.nodeName;
  const podName = opts.podName ?? `acc-${runtimeClassName}`;
  const r = await s.server.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: podName },
      spec: { runtimeClassName, terminationGracePeriodSeconds: 1, containers: [{ name: 'work', image: s.busyboxImage, command: ['sh', '-c', script] }] },
    }),
  });
  if (r.code !== 0) throw new Error(`apply ${podName}: ${r.stderr}`);
  const uid = ((await s.server.api('GET', `/api/v1/namespaces/default/pods/${podName}`)).body as Pod).metadata?.uid ?? '';
  const podCpuacct = `${CGROUP}/cpuacct/${s.node.cgroupRoot}/pod${uid}`;
  const microvm = runtimeClassName === 'microvm';

  const samples: Sample[] = [];
  let stop = false;
  const sampler = (async (): Promise<void> => {
    while (!stop) {
      const at = Date.now();
      const [sum, cad] = await Promise.all([
        s.server.api('GET', `/api/v1/nodes/${nodeName}/proxy/stats/summary`),
        s.server.api('GET', `/api/v1/nodes/${nodeName}/proxy/metrics/cadvisor`),
      ]).catch(() => [undefined, undefined] as const);
      if (sum?.status === 200 && cad?.status === 200 && typeof cad.body === 'string') {
        const summary = sum.body as Summary;
        const p = summary.pods.find((x) => x.podRef.name === podName);
        // only scrapes that hold the container and its pod (a runtime call can fail under load)
        if (p?.containers[0] && p.cpu && p.memory && p.network && cadvisorValue(cad.body, 'container_fs_writes_bytes_total', { container: 'work', pod: podName }) !== undefined) {
          const done = Date.now();
          samples.push({ at, done, summary, cadvisor: cad.body, podTaskCpuS: await cgroupTaskCpuSeconds(podCpuacct) });
        }
      }
      await new Promise((res) => setTimeout(res, 400));
    }
  })();

  const markers = new Map<string, number>();
  let burnSelfNs: number | undefined;
  let logText = '';
  const logs = async (): Promise<void> => {
    const l = await s.server.kubectl(['logs', '--timestamps', podName]);
    logText = l.stdout;
    for (const line of l.stdout.split('\n')) {
      const m = /^(\S+) M:(\S+)$/.exec(line.trim());
      if (m?.[1] && m[2]) markers.set(m[2], Date.parse(m[1]));
      const b = /^\S+ S:cpu (\d+) (-?\d+)$/.exec(line.trim());
      if (b?.[1] && b[2]) burnSelfNs = Number(b[2]) > 0 ? Number(b[2]) : Number(b[1]) * 1e7;
    }
  };
  try {
    // a microVM under TCG boots in tens of seconds on a loaded host and runs the phases slower
    const pod = await waitUntil(`${podName} through its cpu phase`, microvm ? 600_000 : 240_000, async () => {
      await logs();
      if (!markers.has('net')) return undefined;
      const p = (await s.server.api('GET', `/api/v1/namespaces/default/pods/${podName}`)).body as Pod;
      return p.status?.podIP ? p : undefined;
    }, () => `markers: ${JSON.stringify([...markers])}; samples: ${samples.length}\n${s.explain()}`);
    const ip = pod.status?.podIP ?? '';

    // network: transfers the test makes itself, between two fresh samples
    const fresh = async (): Promise<Sample> => {
      const n = samples.length;
      return waitUntil('a fresh stats sample', 30_000, async () => (samples.length > n + 1 ? samples[samples.length - 1] : undefined), s.explain);
    };
    // ground truth for the wire: the host end of the pod's veth (what it received the pod sent)
    // qemu sits in the pod cgroup itself; gVisor's gofer in an empty netns of its own: the first process that sees eth0
    const procs = await run('sh', ['-c', `cat ${CGROUP}/memory/${s.node.cgroupRoot}/pod${uid}/cgroup.procs ${CGROUP}/memory/${s.node.cgroupRoot}/pod${uid}/*/cgroup.procs`]);
    let peer: number | undefined;
    let tried = '';
    for (const pid of procs.stdout.trim().split('\n').filter(Boolean)) {
      const link = await run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-j', 'link', 'show', 'eth0']);
      tried += `${pid}: ${link.stdout}${link.stderr}`;
      peer = link.code === 0 ? (JSON.parse(link.stdout || '[]') as { link_index?: number }[])[0]?.link_index : undefined;
      if (peer) break;
    }
    if (!peer) throw new Error(`eth0's peer of ${podName}: ${tried}`);
    const veth = async (): Promise<{ rx: number; tx: number }> => {
      const st = await run('ip', ['-j', '-s', 'link']);
      const l = (JSON.parse(st.stdout) as { ifindex: number; stats64: { rx: { bytes: number }; tx: { bytes: number } } }[]).find((x) => x.ifindex === peer);
      if (!l) throw new Error(`host interface ${peer}`);
      return { rx: l.stats64.rx.bytes, tx: l.stats64.tx.bytes };
    };
    const n0 = await fresh();
    const v0 = await veth();
    const got = await tcpReceive(ip, 9001);
    const n1 = await fresh();
    const v1 = await veth();
    await tcpSend(ip, 9000, NET_MIB * MIB);
    const n2 = await fresh();
    const v2 = await veth();
    if (got !== NET_MIB * MIB) throw new Error(`the pod served ${got} bytes, not ${NET_MIB * MIB}`);

    // a phase's window must hold nothing of its neighbours: the sample before it is taken after the
    // previous phase ended, the one after it before the next began (else the figures mix phases)
    // (`quiet`: the diagnostics after mem-end are processes too, which a microVM under TCG charges ~0.4 s)
    const order = ['start', 'io-begin', 'io-end', 'mem-begin', 'mem-end', 'quiet', 'cpu-begin', 'cpu-end', 'net'];
    const at = (phase: string, step: number): number => markers.get(order[order.indexOf(phase) + step] ?? '') ?? NaN;
    const before = (phase: string): Sample => {
      const t = markers.get(phase);
      const c = samples.filter((x) => t !== undefined && x.done < t);
      const last = c[c.length - 1];
      if (!last) throw new Error(`no sample before ${phase} (${samples.length} samples)`);
      if (!(last.at > at(phase, -1))) throw new Error(`no sample between ${order[order.indexOf(phase) - 1]} and ${phase} (${samples.length} samples)`);
      return last;
    };
    const afterS = (phase: string): Sample => {
      const t = markers.get(phase);
      const c = samples.find((x) => t !== undefined && x.at > t + 300);
      if (!c) throw new Error(`no sample after ${phase}`);
      // the next phase's begin (`quiet` only bounds the window after it)
      const step = order[order.indexOf(phase) + 1] === 'quiet' ? 2 : 1;
      if (!(c.done < at(phase, step))) throw new Error(`no sample between ${phase} and ${order[order.indexOf(phase) + step]} (${samples.length} samples)`);
      return c;
    };
    const pod0 = (x: Sample): Summary['pods'][number] => x.summary.pods.find((p) => p.podRef.name === podName)!;
    const cad = (x: Sample, name: string, extra: Record<string, string> = {}, container = 'work'): number => cadvisorValue(x.cadvisor, name, { container, pod: podName, ...extra }) ?? NaN;
    const rows: AccuracyRow[] = [];
    const row = (figure: string, expected: number, reported: number, unit: AccuracyRow['unit'], asserted = true, note?: string): void => {
      if (Math.abs(reported - expected) > expected * 0.05 && !note) note = `log:\n${logText}`;
      const out: AccuracyRow = { runtime: runtimeClassName, figure, expected, reported, unit, errorPct: (Math.abs(reported - expected) / expected) * 100, asserted };
      if (note) out.note = note;
      rows.push(out);
    };

    const io0 = before('io-begin');
    const io1 = afterS('io-end');
    const ioBytes = IO_MIB * MIB;
    row('container fs writes bytes (cAdvisor)', ioBytes, cad(io1, 'container_fs_writes_bytes_total') - cad(io0, 'container_fs_writes_bytes_total'), 'bytes');
    row('pod fs writes bytes (cAdvisor)', ioBytes, cad(io1, 'container_fs_writes_bytes_total', {}, '') - cad(io0, 'container_fs_writes_bytes_total', {}, ''), 'bytes');
    const gvisor = runtimeClassName === 'gvisor';
    // runsc reads the file back from the host page cache its own write filled: no storage read to count
    row('container fs reads bytes (cAdvisor)', ioBytes, cad(io1, 'container_fs_reads_bytes_total') - cad(io0, 'container_fs_reads_bytes_total'), 'bytes', !gvisor, gvisor ? 'gVisor: read back from the host page cache, the disk reads nothing' : undefined);

    const m0 = before('mem-begin');
    const m1 = afterS('mem-end');
    const memBytes = MEM_MIB * MIB;
    row('container memory workingSet (summary)', memBytes, pod0(m1).containers[0]!.memory.workingSetBytes - pod0(m0).containers[0]!.memory.workingSetBytes, 'bytes');
    row('container memory usage (summary)', memBytes, pod0(m1).containers[0]!.memory.usageBytes - pod0(m0).containers[0]!.memory.usageBytes, 'bytes');
    row('pod memory workingSet (summary)', memBytes, pod0(m1).memory!.workingSetBytes - pod0(m0).memory!.workingSetBytes, 'bytes');
    row('container_memory_working_set_bytes (cAdvisor)', memBytes, cad(m1, 'container_memory_working_set_bytes') - cad(m0, 'container_memory_working_set_bytes'), 'bytes');

    const c0 = before('cpu-begin');
    const c1 = afterS('cpu-end');
    if (burnSelfNs === undefined) throw new Error(`the burn printed no S:cpu line\n${logText}`);
    // the workload's own clock at its end (≥ CPU_S: it checks between slices of work)
    const cpuNs = burnSelfNs;
    const cpuS = cpuNs / 1e9;
    const ctrCpu = pod0(c1).containers[0]!.cpu.usageCoreNanoSeconds - pod0(c0).containers[0]!.cpu.usageCoreNanoSeconds;
    const podCpu = pod0(c1).cpu!.usageCoreNanoSeconds - pod0(c0).cpu!.usageCoreNanoSeconds;
    const cadCpu = cad(c1, 'container_cpu_usage_seconds_total') - cad(c0, 'container_cpu_usage_seconds_total');
    if (gvisor) {
      // gVisor's ptrace platform counts a task's wall time in app mode as its CPU time, so the
      // workload's own clock is no truth (measured: awk saw 3 s, the host charged 0.67 s). The true
      // figure is what the host spent on the pod: its cgroup, which the node reports; the truth it is
      // checked against is the host's per-task accounting of the same processes over the same samples.
      // One container: the sandbox, gofer and stubs are all the container's (runsc puts them in its cgroup).
      const hostS = c1.podTaskCpuS - c0.podTaskCpuS;
      if (hostS < 0.1) throw new Error(`the host charged the gVisor pod only ${hostS} s for the burn`);
      const note = 'vs the host\'s per-task accounting of the pod\'s processes (/proc/PID/stat)';
      row('container cpu usageCoreNanoSeconds (summary) vs host tasks', hostS * 1e9, ctrCpu, 'ns', true, note);
      row('pod cpu usageCoreNanoSeconds (summary) vs host tasks', hostS * 1e9, podCpu, 'ns', true, note);
      row('container_cpu_usage_seconds_total (cAdvisor) vs host tasks', hostS, cadCpu, 's', true, note);
      row('container cpu (summary) vs the sandbox\'s own clock', cpuNs, ctrCpu, 'ns', false, 'the sandbox kernel\'s clock counts wall time under ptrace: not what the host spent');
    } else {
      // runc: the host kernel's per-task clock of the workload vs the cgroup. microVM: the guest
      // kernel's, vs the container's cgroup in the guest (container rows) and the guest's /proc/stat
      // (pod: every vCPU, incl. the guest agent and kernel threads). Under TCG those are guest
      // CPU-seconds (the guest clock runs on while qemu's vCPU thread waits for a host core), not
      // what the host spent emulating them.
      const note = microvm ? 'guest CPU-s: the workload\'s own clock in the guest vs its cgroup in the guest' : undefined;
      row('container cpu usageCoreNanoSeconds (summary)', cpuNs, ctrCpu, 'ns', true, note);
      row('container_cpu_usage_seconds_total (cAdvisor)', cpuS, cadCpu, 's', true, note);
      if (microvm) {
        // the pod is the whole guest: the workload, plus the guest agent answering these very scrapes
        // (every 0.4 s, emulated) and the kernel's threads; nothing independent counts those
        row('pod cpu usageCoreNanoSeconds (summary)', cpuNs, podCpu, 'ns', false, 'the whole guest: the workload plus the guest agent serving the scrapes and kernel threads');
        if (podCpu < ctrCpu) throw new Error(`the guest (${podCpu} ns) counted less CPU than its container (${ctrCpu} ns)`);
      } else row('pod cpu usageCoreNanoSeconds (summary)', cpuNs, podCpu, 'ns');
    }

    const netBytes = NET_MIB * MIB;
    const tx = (x: Sample): number => pod0(x).network?.txBytes ?? NaN;
    const rx = (x: Sample): number => pod0(x).network?.rxBytes ?? NaN;
    // the payload is a floor (headers and any retransmissions come on top); the veth is the truth
    const wireTx = v1.rx - v0.rx;
    const wireRx = v2.tx - v1.tx;
    if (wireTx < netBytes || wireRx < netBytes) throw new Error(`the veth carried less than the ${netBytes} payload: ${wireTx} / ${wireRx}`);
    row('pod network txBytes (summary) vs veth', wireTx, tx(n1) - tx(n0), 'bytes');
    row('pod network rxBytes (summary) vs veth', wireRx, rx(n2) - rx(n1), 'bytes');
    const ctx = (x: Sample): number => cad(x, 'container_network_transmit_bytes_total', { interface: 'eth0' }, '');
    const crx = (x: Sample): number => cad(x, 'container_network_receive_bytes_total', { interface: 'eth0' }, '');
    row('container_network_transmit_bytes_total (cAdvisor, pod) vs veth', wireTx, ctx(n1) - ctx(n0), 'bytes');
    row('container_network_receive_bytes_total (cAdvisor, pod) vs veth', wireRx, crx(n2) - crx(n1), 'bytes');
    row('pod network txBytes (summary) vs payload', netBytes, tx(n1) - tx(n0), 'bytes', false, 'payload only: TCP/IP headers and retransmissions come on top');
    return rows;
  } finally {
    stop = true;
    await sampler;
    await s.server.kubectl(['delete', 'pod', podName, '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 }).catch(() => undefined);
  }
}

export function formatAccuracyTable(rows: readonly AccuracyRow[]): string {
  const fmt = (v: number, unit: AccuracyRow['unit']): string => (unit === 'bytes' ? `${(v / MIB).toFixed(2)} MiB` : unit === 'ns' ? `${(v / 1e9).toFixed(3)} s` : `${v.toFixed(3)} s`);
  const lines = ['| runtime | figure | expected | reported | error % | checked |', '| --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    const note = r.note?.startsWith('log:') ? undefined : r.note;
    lines.push(`| ${r.runtime} | ${r.figure} | ${fmt(r.expected, r.unit)} | ${fmt(r.reported, r.unit)} | ${r.errorPct.toFixed(1)} | ${r.asserted ? `within 5 %${note ? ` (${note})` : ''}` : `no (${note ?? ''})`} |`);
  }
  return lines.join('\n');
}
