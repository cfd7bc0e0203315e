/**
 * `/metrics/cadvisor` from one StatsSample: cAdvisor's metric and label names, so dashboards and
 * rules written for the kubelet work unchanged. A fresh prom-client Registry per scrape (never the
 * global one): the series are exactly the containers running now, nothing lingers.
 *
 * Per container: container=<name>, id=/pod<uid>/<container id>, name=<container id>.
 * Per pod (the sandbox; for a microVM the guest): container="", id=/pod<uid>, name=<sandbox id>;
 * network series exist only here, as in cAdvisor (containers share the pod's netns).
 */
import { Counter, Gauge, Registry } from '../../lib/prom.ts';
import type { ContainerStats, NetworkStats } from './types.ts';
import type { StatsSample } from './collector.ts';

const LABELS = ['container', 'id', 'image', 'name', 'namespace', 'pod'] as const;
type Labels = Record<(typeof LABELS)[number], string>;

export async function renderCadvisorMetrics(s: StatsSample): Promise<{ contentType: string; body: string }> {
  const registry = new Registry();
  const registers = [registry];
  const counter = (name: string, help: string, extra: string[] = []): Counter<string> => new Counter({ name, help, labelNames: [...LABELS, ...extra], registers });
  const gauge = (name: string, help: string, extra: string[] = []): Gauge<string> => new Gauge({ name, help, labelNames: [...LABELS, ...extra], registers });

  const cpu = counter('container_cpu_usage_seconds_total', 'Cumulative cpu time consumed in seconds.', ['cpu']);
  const memUsage = gauge('container_memory_usage_bytes', 'Current memory usage in bytes, including all memory regardless of when it was accessed');
  const memWs = gauge('container_memory_working_set_bytes', 'Current working set in bytes.');
  const memRss = gauge('container_memory_rss', 'Size of RSS in bytes.');
  const pgfault = counter('container_memory_failures_total', 'Cumulative count of memory allocation failures.', ['failure_type', 'scope']);
  const fsRb = counter('container_fs_reads_bytes_total', 'Cumulative count of bytes read');
  const fsWb = counter('container_fs_writes_bytes_total', 'Cumulative count of bytes written');
  const fsR = counter('container_fs_reads_total', 'Cumulative count of reads completed');
  const fsW = counter('container_fs_writes_total', 'Cumulative count of writes completed');
  const periods = counter('container_cpu_cfs_periods_total', 'Number of elapsed enforcement period intervals.');
  const thrPeriods = counter('container_cpu_cfs_throttled_periods_total', 'Number of throttled period intervals.');
  const thrSeconds = counter('container_cpu_cfs_throttled_seconds_total', 'Total time duration the container has been throttled.');
  const oom = counter('container_oom_events_total', 'Count of out of memory events observed for the container');
  const procs = gauge('container_processes', 'Number of processes running inside the container.');
  const start = gauge('container_start_time_seconds', 'Start time of the container since unix epoch in seconds.');
  const rxB = counter('container_network_receive_bytes_total', 'Cumulative count of bytes received', ['interface']);
  const txB = counter('container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted', ['interface']);
  const rxE = counter('container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving', ['interface']);
  const txE = counter('container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting', ['interface']);

  const put = (l: Labels, st: ContainerStats, startTime?: Date): void => {
    cpu.inc({ ...l, cpu: 'total' }, st.cpu.usageCoreNanoSeconds / 1e9);
    memUsage.set(l, st.memory.usageBytes);
    memWs.set(l, st.memory.workingSetBytes);
    memRss.set(l, st.memory.rssBytes);
    const t = st.cpu.throttling;
    if (t) {
      periods.inc(l, t.periods);
      thrPeriods.inc(l, t.throttledPeriods);
      thrSeconds.inc(l, t.throttledNanoSeconds / 1e9);
    }
    if (st.memory.oomKills !== undefined) oom.inc(l, st.memory.oomKills);
    if (st.processes !== undefined) procs.set(l, st.processes);
    if (st.memory.pageFaults !== undefined) pgfault.inc({ ...l, failure_type: 'pgfault', scope: 'container' }, st.memory.pageFaults);
    if (st.memory.majorPageFaults !== undefined) pgfault.inc({ ...l, failure_type: 'pgmajfault', scope: 'container' }, st.memory.majorPageFaults);
    if (st.blkio) {
      fsRb.inc(l, st.blkio.readBytes);
      fsWb.inc(l, st.blkio.writeBytes);
      if (st.blkio.readOps !== undefined) fsR.inc(l, st.blkio.readOps);
      if (st.blkio.writeOps !== undefined) fsW.inc(l, st.blkio.writeOps);
    }
    if (startTime) start.set(l, startTime.getTime() / 1000);
  };
  const putNet = (l: Labels, n: NetworkStats): void => {
    for (const i of n.interfaces) {
      const li = { ...l, interface: i.name };
      rxB.inc(li, i.rxBytes);
      txB.inc(li, i.txBytes);
      rxE.inc(li, i.rxErrors);
      txE.inc(li, i.txErrors);
    }
  };

  for (const p of s.pods) {
    for (const c of p.containers) {
      put({ container: c.name, id: `/pod${p.uid}/${c.id}`, image: c.image, name: c.id, namespace: p.namespace, pod: p.name }, c.stats, c.startTime);
    }
    if (p.stats) {
      const l: Labels = { container: '', id: `/pod${p.uid}`, image: '', name: p.sandboxId ?? '', namespace: p.namespace, pod: p.name };
      put(l, p.stats, p.startTime);
      if (p.stats.network) putNet(l, p.stats.network);
    }
  }
  // the machine itself, as cAdvisor's root container ("/")
  const root: Labels = { container: '', id: '/', image: '', name: '', namespace: '', pod: '' };
  if (s.node.cpu && s.node.memory) put(root, { timestamp: s.node.timestamp, cpu: s.node.cpu, memory: s.node.memory }, s.node.startTime);
  if (s.node.network) putNet(root, s.node.network);
  return { contentType: registry.contentType, body: await registry.metrics() };
}
