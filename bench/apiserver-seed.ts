import type { HedgeServer } from '../test/e2e/harness.ts';

/** Objects shaped like real ones (labels, a few containers, status), so list sizes are realistic. */
export function benchPod(i: number, nodes: number): Record<string, unknown> {
  const ns = `ns-${i % 10}`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod-${i}`, namespace: ns, labels: { app: `app-${i % 50}`, tier: i % 2 === 0 ? 'web' : 'db' } },
    spec: {
      nodeName: `node-${i % nodes}`,
      containers: [
        { name: 'main', image: 'registry.example/app:1.2.3', ports: [{ containerPort: 8080 }], resources: { requests: { cpu: '100m', memory: '64Mi' } } },
        { name: 'sidecar', image: 'registry.example/proxy:0.9', args: ['--listen', ':15001'] },
      ],
    },
  };
}

export function benchNode(i: number): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: `node-${i}`, labels: { 'kubernetes.io/hostname': `node-${i}`, 'topology.kubernetes.io/zone': `zone-${i % 3}` } },
    status: { capacity: { cpu: '4', memory: '8Gi', pods: '110' }, allocatable: { cpu: '4', memory: '8Gi', pods: '110' } },
  };
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/** Create `nodes` nodes, 10 namespaces and `pods` pods through the API. */
export async function seed(s: HedgeServer, opts: { nodes: number; pods: number }): Promise<void> {
  const must = async (method: string, path: string, body: unknown): Promise<void> => {
    const r = await s.api(method, path, body);
    if (r.status !== 201) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  };
  for (let n = 0; n < 10; n++) await must('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}` } });
  await pool([...Array(opts.nodes).keys()], 8, (i) => must('POST', '/api/v1/nodes', benchNode(i)));
  await pool([...Array(opts.pods).keys()], 8, (i) => must('POST', `/api/v1/namespaces/ns-${i % 10}/pods`, benchPod(i, opts.nodes)));
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function summarize(samples: number[]): { p50: number; p99: number; min: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), min: s[0], max: s[s.length - 1] };
}

export async function rssMiB(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** user+system CPU time a process has used so far, in ms (from /proc/PID/stat, 100 ticks/s as on Linux x86) */
export async function cpuMs(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // fields after the command's closing parenthesis; utime and stime are fields 14 and 15
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

export function printTable(title: string, rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(1)) : c)));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  process.stdout.write(`\n${title}\n`);
  for (const [i, r] of cells.entries()) {
    process.stdout.write(`${r.map((c, j) => c.padEnd(widths[j])).join('  ')}\n`);
    if (i === 0) process.stdout.write(`${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  }
}
