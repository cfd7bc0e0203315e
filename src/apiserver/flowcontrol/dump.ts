import type { QueueSet, RequestDump } from './queue-set.ts';

/**
 * upstream's APF debug endpoints (k8s.io/apiserver/pkg/util/flowcontrol/dump.go): text tables of
 * `cell,` columns aligned as Go's tabwriter (minwidth 8, padding 1, spaces) aligns them, one row
 * per priority level, per queue, per request. NextDispatchR and TotalWorkSum are the queue set's
 * virtual time and waiting work in upstream's seat-seconds format (`0.01300000ss`); an executing
 * request shows its queue and RequestIndexInQueue -1, QueueIndex -1 when the level has no queues.
 */
export const APF_DEBUG_PREFIX = '/debug/api_priority_and_fairness/';

export interface DumpLevel {
  name: string;
  quiescing: boolean;
  set: QueueSet;
}

/** the table for `/debug/api_priority_and_fairness/<what>`, or undefined for a path it does not serve */
export function apfDump(path: string, query: URLSearchParams, levels: readonly DumpLevel[]): string | undefined {
  switch (path.slice(APF_DEBUG_PREFIX.length)) {
    case 'dump_priority_levels':
      return dumpPriorityLevels(levels);
    case 'dump_queues':
      return dumpQueues(levels);
    case 'dump_requests':
      // upstream: a non-empty value
      return dumpRequests(levels, (query.get('includeRequestDetails') ?? '') !== '');
    default:
      return undefined;
  }
}

function dumpPriorityLevels(levels: readonly DumpLevel[]): string {
  const rows = [['PriorityLevelName', 'ActiveQueues', 'IsIdle', 'IsQuiescing', 'WaitingRequests', 'ExecutingRequests', 'DispatchedRequests', 'RejectedRequests', 'TimedoutRequests', 'CancelledRequests']];
  for (const l of levels) {
    const d = l.set.dump();
    const active = d.queues.filter((q) => q.waiting.length > 0).length;
    rows.push([l.name, active, d.idle, l.quiescing, d.waiting, d.executing, d.dispatched, d.rejected, d.timedout, d.cancelled].map(String));
  }
  return tabwrite(rows);
}

function dumpQueues(levels: readonly DumpLevel[]): string {
  const rows = [['PriorityLevelName', 'Index', 'PendingRequests', 'ExecutingRequests', 'SeatsInUse', 'NextDispatchR', 'InitialSeatsSum', 'MaxSeatsSum', 'TotalWorkSum']];
  for (const l of levels) {
    l.set.dump().queues.forEach((q, i) => {
      rows.push([l.name, String(i), String(q.waiting.length), String(q.executing.length), String(q.seatsInUse), q.nextDispatchR, String(q.initialSeatsSum), String(q.maxSeatsSum), q.totalWorkSum]);
    });
  }
  return tabwrite(rows);
}

function dumpRequests(levels: readonly DumpLevel[], details: boolean): string {
  const header = ['PriorityLevelName', 'FlowSchemaName', 'QueueIndex', 'RequestIndexInQueue', 'FlowDistingsher', 'ArriveTime', 'InitialSeats', 'FinalSeats', 'AdditionalLatency', 'StartTime'];
  if (details) header.push('UserName', 'Verb', 'APIPath', 'Namespace', 'Name', 'APIVersion', 'Resource', 'SubResource');
  const rows = [header];
  for (const l of levels) {
    const d = l.set.dump();
    const row = (iq: number, ir: number, r: RequestDump): void => {
      const cells = [l.name, r.descr?.flowSchema ?? '', String(iq), String(ir), r.descr?.distinguisher ?? '', rfc3339Nano(r.arrivedAt), String(r.width.seats), String(r.width.finalSeats), goDuration(r.width.additionalLatencyMs), rfc3339Nano(r.startedAt)];
      if (details) {
        const info = r.descr?.info;
        const res = info?.isResourceRequest ? info : undefined;
        const gv = res ? (res.group === '' ? res.version : `${res.group}/${res.version}`) : '';
        cells.push(r.descr?.user ?? '', info?.verb ?? '', info?.path ?? '', res?.namespace ?? '', res?.name ?? '', gv, res?.resource ?? '', res?.subresource ?? '');
      }
      rows.push(cells);
    };
    d.queues.forEach((q, iq) => {
      q.waiting.forEach((r, ir) => row(iq, ir, r));
      for (const r of q.executing) row(iq, -1, r);
    });
    for (const r of d.queueless) row(-1, -1, r);
  }
  return tabwrite(rows);
}

/**
 * Go's text/tabwriter as upstream's dumps use it (NewWriter(w, 8, 0, 1, ' ', 0)) on rows whose
 * cells are joined by `,\t`: every cell but a row's last is `cell,` padded with spaces to its
 * column's width (the widest `cell,` + 1, at least 8); the last is written as is.
 */
export function tabwrite(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) for (let i = 0; i < r.length - 1; i++) widths[i] = Math.max(widths[i] ?? 8, r[i]!.length + 2);
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? `${c},`.padEnd(widths[i]!) : c)).join('') + '\n').join('');
}

/** Go's time.RFC3339Nano in UTC (trailing zeros of the fraction dropped); Go's zero time when unset */
function rfc3339Nano(ms: number | undefined): string {
  if (ms === undefined) return '0001-01-01T00:00:00Z';
  return new Date(ms).toISOString().replace(/\.?0*Z$/, 'Z');
}

/** Go's time.Duration.String for whole milliseconds: `0s`, `250ms`, `1.5s`, `2m0s` */
function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sec = String((ms % 60_000) / 1000);
  return h > 0 ? `${h}h${m}m${sec}s` : m > 0 ? `${m}m${sec}s` : `${sec}s`;
}
