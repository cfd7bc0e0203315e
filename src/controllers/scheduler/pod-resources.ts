import type { Container, Node, Pod } from 'kubernetes-types/core/v1.js';
import { tryParseQuantity } from '../../api/meta/quantity.ts';
import { isRestartableInit } from '../../api/containers.ts';

/** Amounts the scheduler adds up: cpu in millicores, the rest in whole units (bytes, count). */
export interface Resources {
  milliCPU: number;
  memory: number;
  ephemeralStorage: number;
}

export const zeroResources = (): Resources => ({ milliCPU: 0, memory: 0, ephemeralStorage: 0 });

/** Upstream's defaults for containers without requests, used only for scoring (so they do not all pile up on one node). */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

/**
 * Parsed quantities by text: a cluster uses a handful of distinct request strings ("100m",
 * "128Mi"), and parsing (regex + bigint) was a tenth of the scheduler's CPU per pod. Bounded:
 * cleared when full, so odd inputs cannot grow it without limit.
 */
const MEMO_MAX = 4096;
const milliMemo = new Map<string, number>();
const unitsMemo = new Map<string, number>();

function memo(table: Map<string, number>, q: string, parse: (q: string) => number): number {
  let v = table.get(q);
  if (v === undefined) {
    v = parse(q);
    if (table.size >= MEMO_MAX) table.clear();
    table.set(q, v);
  }
  return v;
}

const parseMilli = (q: string): number => {
  const r = tryParseQuantity(q);
  return typeof r === 'string' ? 0 : r.milliValue();
};
const parseUnits = (q: string): number => {
  const r = tryParseQuantity(q);
  return typeof r === 'string' ? 0 : r.value();
};

/** Parse once; a malformed quantity counts as zero because the apiserver already validated the object. */
export function milli(q: string | number | undefined): number {
  if (q === undefined) return 0;
  return memo(milliMemo, String(q), parseMilli);
}

export function units(q: string | number | undefined): number {
  if (q === undefined) return 0;
  return memo(unitsMemo, String(q), parseUnits);
}

function fromList(list: Record<string, string | number> | undefined, nonZero: boolean): Resources {
  const l = list ?? {};
  return {
    milliCPU: l.cpu !== undefined ? milli(l.cpu) : nonZero ? DEFAULT_MILLI_CPU_REQUEST : 0,
    memory: l.memory !== undefined ? units(l.memory) : nonZero ? DEFAULT_MEMORY_REQUEST : 0,
    ephemeralStorage: units(l['ephemeral-storage']),
  };
}

const add = (a: Resources, b: Resources): Resources => ({
  milliCPU: a.milliCPU + b.milliCPU,
  memory: a.memory + b.memory,
  ephemeralStorage: a.ephemeralStorage + b.ephemeralStorage,
});

const max = (a: Resources, b: Resources): Resources => ({
  milliCPU: Math.max(a.milliCPU, b.milliCPU),
  memory: Math.max(a.memory, b.memory),
  ephemeralStorage: Math.max(a.ephemeralStorage, b.ephemeralStorage),
});

const requestsOf = (c: Container, nonZero: boolean): Resources =>
  fromList(c.resources?.requests as Record<string, string | number> | undefined, nonZero);

/**
 * The pod's effective request, as upstream's resourcehelper.PodRequests computes it:
 * max(sum(containers) + sum(sidecars), max over init containers of (init + sidecars started before it))
 * + spec.overhead. Sidecars are init containers with restartPolicy Always: they keep running.
 * `nonZero` applies the scoring defaults to containers without cpu/memory requests.
 */
export function podRequests(pod: Pod, nonZero = false): Resources {
  const spec = pod.spec;
  let reqs = zeroResources();
  for (const c of spec?.containers ?? []) reqs = add(reqs, requestsOf(c, nonZero));
  let sidecars = zeroResources();
  let initMax = zeroResources();
  for (const c of spec?.initContainers ?? []) {
    const r = requestsOf(c, nonZero);
    if (isRestartableInit(c)) {
      reqs = add(reqs, r);
      sidecars = add(sidecars, r);
      initMax = max(initMax, sidecars);
    } else {
      initMax = max(initMax, add(r, sidecars));
    }
  }
  reqs = max(reqs, initMax);
  if (spec?.overhead) reqs = add(reqs, fromList(spec.overhead as Record<string, string | number>, false));
  return reqs;
}

export interface Allocatable extends Resources {
  pods: number;
}

export function nodeAllocatable(node: Node): Allocatable {
  const a = (node.status?.allocatable ?? node.status?.capacity ?? {}) as Record<string, string | number>;
  return {
    milliCPU: milli(a.cpu),
    memory: units(a.memory),
    ephemeralStorage: units(a['ephemeral-storage']),
    pods: units(a.pods),
  };
}
