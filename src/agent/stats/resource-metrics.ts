/**
 * `/metrics/resource` from one StatsSample, in the kubelet's exact text: the metric names, HELP
 * strings, label sets and per-sample millisecond timestamps metrics-server reads
 * (node_cpu_usage_seconds_total, node_memory_working_set_bytes, container_*, pod_*,
 * scrape_error / resource_scrape_error). Written by hand rather than with prom-client because
 * the format carries a timestamp per sample (the time the figure was read, which metrics-server
 * uses for the rate window) and prom-client has no timestamps.
 */
import type { StatsSample } from './collector.ts';

export const RESOURCE_METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Go's strconv.FormatFloat(v, 'g', -1, 64), which the Prometheus text encoder uses. */
export function formatGoFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  // the exponent toExponential would give is -4..5: plain decimal, as below (most CPU-seconds figures)
  const a = Math.abs(v);
  if (a >= 1e-4 && a < 1e6) return String(v);
  const [mant = '0', expText = '0'] = v.toExponential().split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(v);
}

const NEEDS_ESCAPE = /[\\\n"]/;
const escapeLabel = (v: string): string => (NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v);

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: string[];
}

export function renderResourceMetrics(s: StatsSample, opts: { scrapeError?: boolean } = {}): { contentType: string; body: string } {
  const fam = (name: string, type: Family['type'], help: string): Family => ({ name, type, help, samples: [] });
  const containerCpu = fam('container_cpu_usage_seconds_total', 'counter', '[STABLE] Cumulative cpu time consumed by the container in core-seconds');
  const containerMem = fam('container_memory_working_set_bytes', 'gauge', '[STABLE] Current working set of the container in bytes');
  const containerStart = fam('container_start_time_seconds', 'gauge', '[STABLE] Start time of the container since unix epoch in seconds');
  const nodeCpu = fam('node_cpu_usage_seconds_total', 'counter', '[STABLE] Cumulative cpu time consumed by the node in core-seconds');
  const nodeMem = fam('node_memory_working_set_bytes', 'gauge', '[STABLE] Current working set of the node in bytes');
  const podCpu = fam('pod_cpu_usage_seconds_total', 'counter', '[STABLE] Cumulative cpu time consumed by the pod in core-seconds');
  const podMem = fam('pod_memory_working_set_bytes', 'gauge', '[STABLE] Current working set of the pod in bytes');
  const resourceErr = fam('resource_scrape_error', 'gauge', '[STABLE] 1 if there was an error while getting container metrics, 0 otherwise');
  const scrapeErr = fam('scrape_error', 'gauge', '[ALPHA] 1 if there was an error while getting container metrics, 0 otherwise');

  // `labels`: the sample's label set as written, `{k="v",...}` or '' (each set is built once per container or pod)
  const put = (f: Family, labels: string, value: number, at?: Date): void => {
    f.samples.push(`${f.name}${labels} ${formatGoFloat(value)}${at ? ` ${at.getTime()}` : ''}`);
  };

  for (const p of s.pods) {
    const pl = `namespace="${escapeLabel(p.namespace)}",pod="${escapeLabel(p.name)}"`;
    for (const c of p.containers) {
      const cl = `{container="${escapeLabel(c.name)}",${pl}}`;
      put(containerCpu, cl, c.stats.cpu.usageCoreNanoSeconds / 1e9, c.stats.timestamp);
      put(containerMem, cl, c.stats.memory.workingSetBytes, c.stats.timestamp);
      if (c.startTime) put(containerStart, cl, c.startTime.getTime() / 1000, c.startTime);
    }
    if (p.stats) {
      put(podCpu, `{${pl}}`, p.stats.cpu.usageCoreNanoSeconds / 1e9, p.stats.timestamp);
      put(podMem, `{${pl}}`, p.stats.memory.workingSetBytes, p.stats.timestamp);
    }
  }
  if (s.node.cpu) put(nodeCpu, '', s.node.cpu.usageCoreNanoSeconds / 1e9, s.node.timestamp);
  if (s.node.memory) put(nodeMem, '', s.node.memory.workingSetBytes, s.node.timestamp);
  const err = opts.scrapeError || !s.node.cpu || !s.node.memory ? 1 : 0;
  put(resourceErr, '', err);
  put(scrapeErr, '', err);

  const out: string[] = [];
  // the kubelet's registry gathers families sorted by name and leaves out those without samples
  const families = [containerCpu, containerMem, containerStart, nodeCpu, nodeMem, podCpu, podMem, resourceErr, scrapeErr];
  for (const f of families.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (f.samples.length === 0) continue;
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`, ...f.samples);
  }
  return { contentType: RESOURCE_METRICS_CONTENT_TYPE, body: `${out.join('\n')}\n` };
}
