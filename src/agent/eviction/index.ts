export { EvictionManager, MONITORING_INTERVAL_MS, type EvictionManagerConfig, type EvictionManagerDeps, type SyncResult } from './eviction-manager.ts';
export { hostSignals, type HostSignalsOptions } from './host-signals.ts';
export { runtimePodUsage, type RuntimePodUsageOptions } from './pod-usage.ts';
export {
  DEFAULT_EVICTION_HARD,
  DEFAULT_PRESSURE_TRANSITION_MS,
  EvictionConfigError,
  SIGNALS,
  formatThreshold,
  parseDurationMs,
  parseThresholdConfig,
  type EvictionSettings,
  type Signal,
  type Threshold,
} from './thresholds.ts';
export { evictionMessage, isCriticalPod, localStorageViolation, rankForEviction, type PressureCondition } from './helpers.ts';
export type { EvictRequest, EvictionTarget, ImageGarbageCollector, Observations, PodUsage, PodUsageSource, SignalSource } from './types.ts';
