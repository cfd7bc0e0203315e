/**
 * Eviction thresholds as the kubelet parses and evaluates them (pkg/kubelet/eviction/helpers.go):
 * `signal: quantity | percentage` maps, a soft threshold's grace period, minimum reclaim.
 */
import { Quantity, tryParseQuantity } from '../../api/meta/quantity.ts';
import { parseDuration } from '../../lib/duration.ts';

export const SIGNALS = ['memory.available', 'allocatableMemory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'pid.available'] as const;
export type Signal = (typeof SIGNALS)[number];

/** the resource a signal starves (upstream's signalToResource) */
export type StarvedResource = 'memory' | 'ephemeral-storage' | 'inodes' | 'pids';
export const SIGNAL_RESOURCE: Record<Signal, StarvedResource> = {
  'memory.available': 'memory',
  'allocatableMemory.available': 'memory',
  'nodefs.available': 'ephemeral-storage',
  'nodefs.inodesFree': 'inodes',
  'imagefs.available': 'ephemeral-storage',
  'imagefs.inodesFree': 'inodes',
  'pid.available': 'pids',
};

/** the kubelet's Linux defaults (DefaultEvictionHard); pid.available has none upstream */
export const DEFAULT_EVICTION_HARD: Readonly<Record<string, string>> = {
  'memory.available': '100Mi',
  'nodefs.available': '10%',
  'nodefs.inodesFree': '5%',
  'imagefs.available': '15%',
  'imagefs.inodesFree': '5%',
};

/**
 * the kubelet's enforceNodeAllocatable default: with `pods` in it, each memory.available
 * threshold with no grace period gets an allocatableMemory.available twin (upstream's
 * addAllocatableThresholds), measured on the pods' parent cgroup against node allocatable
 */
export const DEFAULT_ENFORCE_NODE_ALLOCATABLE: readonly string[] = ['pods'];
/** what enforceNodeAllocatable may hold here: no systemReservedCgroup/kubeReservedCgroup to enforce the others on */
const ENFORCE_OPTIONS = ['pods', 'none'];

/** the kubelet's evictionPressureTransitionPeriod default */
export const DEFAULT_PRESSURE_TRANSITION_MS = 5 * 60_000;

/** an absolute amount (bytes, inodes, pids) or a fraction of capacity */
export type ThresholdValue = { kind: 'quantity'; quantity: Quantity } | { kind: 'percentage'; fraction: number };

export interface Threshold {
  signal: Signal;
  /** upstream has one operator, LessThan: met when available < value */
  value: ThresholdValue;
  /** 0 for a hard threshold */
  gracePeriodMs: number;
  minReclaim?: ThresholdValue;
  /** false for evictionSoft */
  hard: boolean;
}

/** the eviction settings of a node config, as the kubelet configuration spells them */
export interface EvictionSettings {
  evictionHard?: Record<string, string>;
  evictionSoft?: Record<string, string>;
  /** durations: `1m30s`, `90s`, or seconds as a number */
  evictionSoftGracePeriod?: Record<string, string | number>;
  evictionMinimumReclaim?: Record<string, string>;
  /** `pods` (default) or `none` */
  enforceNodeAllocatable?: readonly string[];
}

/** what a bad setting says: the key it is under and why */
export class EvictionConfigError extends Error {
  constructor(
    readonly key: keyof EvictionSettings,
    readonly reason: string,
  ) {
    super(`${key}: ${reason}`);
    this.name = 'EvictionConfigError';
  }
}

const isSignal = (s: string): s is Signal => (SIGNALS as readonly string[]).includes(s);

function parsePercentage(key: keyof EvictionSettings, val: string): number {
  const n = Number(val.slice(0, -1));
  if (val.length < 2 || !Number.isFinite(n)) throw new EvictionConfigError(key, `invalid percentage "${val}"`);
  // upstream parses into a float32 and divides as float32: the same bits give the same quantities
  return Math.fround(Math.fround(n) / 100);
}

/** upstream's parseThresholdStatement: undefined for 0% and 100% (ignored, as upstream) */
function parseThresholdStatement(key: keyof EvictionSettings, signal: string, val: string): ThresholdValue | undefined {
  if (!isSignal(signal)) throw new EvictionConfigError(key, `unsupported eviction signal ${signal}`);
  if (val.endsWith('%')) {
    if (val === '0%' || val === '100%') return undefined;
    const p = parsePercentage(key, val);
    if (p < 0) throw new EvictionConfigError(key, `eviction percentage threshold ${signal} must be >= 0%: ${val}`);
    if (p > 1) throw new EvictionConfigError(key, `eviction percentage threshold ${signal} must be <= 100%: ${val}`);
    return { kind: 'percentage', fraction: p };
  }
  const q = tryParseQuantity(val);
  if (typeof q === 'string') throw new EvictionConfigError(key, `${signal}: ${q}: "${val}"`);
  if (q.sign() <= 0) throw new EvictionConfigError(key, `eviction threshold ${signal} must be positive: ${q.toString()}`);
  return { kind: 'quantity', quantity: q };
}

function parseMinimumReclaim(signal: string, val: string): ThresholdValue {
  const key = 'evictionMinimumReclaim';
  if (!isSignal(signal)) throw new EvictionConfigError(key, `unsupported eviction signal ${signal}`);
  if (val.endsWith('%')) {
    const p = parsePercentage(key, val);
    if (p <= 0) throw new EvictionConfigError(key, `eviction percentage minimum reclaim ${signal} must be positive: ${val}`);
    if (p > 1) throw new EvictionConfigError(key, `eviction percentage minimum reclaim ${signal} must be <= 100%: ${val}`);
    return { kind: 'percentage', fraction: p };
  }
  const q = tryParseQuantity(val);
  if (typeof q === 'string') throw new EvictionConfigError(key, `${signal}: ${q}: "${val}"`);
  if (q.sign() < 0) throw new EvictionConfigError(key, `negative eviction minimum reclaim specified for ${signal}`);
  return { kind: 'quantity', quantity: q };
}

/** a grace period: Go's time.ParseDuration (lib/duration.ts), or plain seconds; in ms */
export function parseDurationMs(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v * 1000 : undefined;
  const s = v.trim();
  // a bare number is seconds (YAML), "0" included; anything else a Go duration
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  return parseDuration(s);
}

/**
 * upstream's ParseThresholdConfig: hard thresholds (an unset evictionHard = the defaults; a set
 * one replaces them whole, as the kubelet's does), soft ones each with its grace period, and the
 * minimum reclaim of each signal. Throws EvictionConfigError naming the key and reason.
 */
export function parseThresholdConfig(s: EvictionSettings): Threshold[] {
  const out: Threshold[] = [];
  const reclaim = new Map<Signal, ThresholdValue>();
  for (const [signal, val] of Object.entries(s.evictionMinimumReclaim ?? {})) reclaim.set(signal as Signal, parseMinimumReclaim(signal, String(val)));
  for (const [signal, val] of Object.entries(s.evictionHard ?? DEFAULT_EVICTION_HARD)) {
    const value = parseThresholdStatement('evictionHard', signal, String(val));
    if (value) out.push({ signal: signal as Signal, value, gracePeriodMs: 0, hard: true, ...(reclaim.has(signal as Signal) ? { minReclaim: reclaim.get(signal as Signal) } : {}) });
  }
  const graces = new Map<string, number>();
  for (const [signal, val] of Object.entries(s.evictionSoftGracePeriod ?? {})) {
    if (!isSignal(signal)) throw new EvictionConfigError('evictionSoftGracePeriod', `unsupported eviction signal ${signal}`);
    const ms = parseDurationMs(val);
    if (ms === undefined) throw new EvictionConfigError('evictionSoftGracePeriod', `${signal}: invalid duration "${val}" (e.g. 1m30s)`);
    if (ms < 0) throw new EvictionConfigError('evictionSoftGracePeriod', `invalid eviction grace period specified: ${val}, must be a positive value`);
    graces.set(signal, ms);
  }
  for (const [signal, val] of Object.entries(s.evictionSoft ?? {})) {
    const value = parseThresholdStatement('evictionSoft', signal, String(val));
    if (!value) continue;
    const grace = graces.get(signal);
    if (grace === undefined) throw new EvictionConfigError('evictionSoftGracePeriod', `grace period must be specified for the soft eviction threshold ${signal}`);
    out.push({ signal: signal as Signal, value, gracePeriodMs: grace, hard: false, ...(reclaim.has(signal as Signal) ? { minReclaim: reclaim.get(signal as Signal) } : {}) });
  }
  if (enforcesPods(s.enforceNodeAllocatable ?? DEFAULT_ENFORCE_NODE_ALLOCATABLE)) {
    // upstream's isHardEvictionThreshold is "no grace period": a soft threshold of 0s counts too
    for (const t of out.filter((x) => x.signal === 'memory.available' && x.gracePeriodMs === 0)) {
      out.push({ signal: 'allocatableMemory.available', value: t.value, gracePeriodMs: 0, hard: true, ...(t.minReclaim ? { minReclaim: t.minReclaim } : {}) });
    }
  }
  return out;
}

/** upstream's enforceNodeAllocatable checks (validation.go), for the options this node has */
function enforcesPods(opts: readonly string[]): boolean {
  const key = 'enforceNodeAllocatable';
  for (const o of opts) {
    if (o === 'system-reserved' || o === 'kube-reserved' || o === 'system-reserved-compressible' || o === 'kube-reserved-compressible') {
      throw new EvictionConfigError(key, `option "${o}" needs a ${o.startsWith('system') ? 'systemReservedCgroup' : 'kubeReservedCgroup'}, which this node does not have; valid options are "pods" or "none"`);
    }
    if (!ENFORCE_OPTIONS.includes(o)) throw new EvictionConfigError(key, `invalid option "${o}"; valid options are "pods" or "none"`);
  }
  if (opts.includes('none') && opts.length > 1) throw new EvictionConfigError(key, 'may not contain additional enforcements when "none" is specified');
  return opts.includes('pods');
}

/** upstream's GetThresholdQuantity: the value as an amount of `capacity` (BinarySI; int64(float64(capacity) × float64(float32 percentage))) */
export function thresholdQuantity(v: ThresholdValue, capacity: number): Quantity {
  return v.kind === 'quantity' ? v.quantity : Quantity.fromInt(Math.floor(capacity * v.fraction), 'BinarySI');
}

/** how a threshold prints in logs and docs: `memory.available<100Mi`, `nodefs.available<10%` */
export function formatThreshold(t: Threshold): string {
  return `${t.signal}<${t.value.kind === 'quantity' ? t.value.quantity.toString() : `${Math.round(t.value.fraction * 10000) / 100}%`}`;
}
