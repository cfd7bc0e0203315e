/**
 * The kubelet's `/metrics/resource` text, decoded the way metrics-server does: only the
 * node_/container_ families it needs, each figure with the timestamp it was read at (a sample
 * without one gets the scrape time). Unknown families and comments are skipped; a malformed
 * line fails the whole scrape rather than yielding half a node.
 */
import { HedgeError } from '../../lib/errors.ts';

export interface CpuMemPoint {
  /** when the figures were read (the sample's timestamp) */
  timestamp: number;
  /** cumulative CPU, core-seconds */
  cpuSeconds?: number;
  memoryWorkingSetBytes?: number;
  /** container_start_time_seconds, ms */
  startTime?: number;
}

export interface ResourceScrape {
  node?: CpuMemPoint;
  /** key: namespace/pod → container → point */
  pods: Map<string, Map<string, CpuMemPoint>>;
  scrapeError: boolean;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?\s*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  LABEL.lastIndex = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = LABEL.exec(text)) !== null) {
    out[m[1] ?? ''] = (m[2] ?? '').replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    end = LABEL.lastIndex;
  }
  if (end !== text.length) throw new HedgeError('Invalid', `malformed labels in resource metrics line: ${line.slice(0, 200)}`);
  return out;
}

function parseValue(v: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}

export function parseResourceMetrics(text: string, scrapedAt: number): ResourceScrape {
  const out: ResourceScrape = { pods: new Map(), scrapeError: false };
  const container = (labels: Record<string, string>): CpuMemPoint | undefined => {
    const ns = labels.namespace;
    const pod = labels.pod;
    const name = labels.container;
    if (!ns || !pod || !name) return undefined;
    const key = `${ns}/${pod}`;
    let cs = out.pods.get(key);
    if (!cs) out.pods.set(key, (cs = new Map()));
    let p = cs.get(name);
    if (!p) cs.set(name, (p = { timestamp: 0 }));
    return p;
  };
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new HedgeError('Invalid', `malformed resource metrics line: ${line.slice(0, 200)}`);
    const name = m[1] ?? '';
    const value = parseValue(m[3] ?? '');
    if (Number.isNaN(value)) throw new HedgeError('Invalid', `malformed value in resource metrics line: ${line.slice(0, 200)}`);
    const ts = m[4] === undefined ? scrapedAt : Number(m[4]);
    switch (name) {
      case 'node_cpu_usage_seconds_total':
        out.node = { ...out.node, timestamp: Math.max(out.node?.timestamp ?? 0, ts), cpuSeconds: value };
        break;
      case 'node_memory_working_set_bytes':
        out.node = { ...out.node, timestamp: Math.max(out.node?.timestamp ?? 0, ts), memoryWorkingSetBytes: value };
        break;
      case 'container_cpu_usage_seconds_total': {
        const p = container(parseLabels(m[2] ?? '', line));
        if (p) {
          p.cpuSeconds = value;
          p.timestamp = Math.max(p.timestamp, ts);
        }
        break;
      }
      case 'container_memory_working_set_bytes': {
        const p = container(parseLabels(m[2] ?? '', line));
        if (p) {
          p.memoryWorkingSetBytes = value;
          p.timestamp = Math.max(p.timestamp, ts);
        }
        break;
      }
      case 'container_start_time_seconds': {
        const p = container(parseLabels(m[2] ?? '', line));
        if (p) p.startTime = value * 1000;
        break;
      }
      case 'scrape_error':
      case 'resource_scrape_error':
        if (value !== 0) out.scrapeError = true;
        break;
      default:
        break;
    }
  }
  return out;
}
