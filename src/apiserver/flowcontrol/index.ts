export { PriorityAndFairness, FLOW_SCHEMA_UID_HEADER, PRIORITY_LEVEL_UID_HEADER, type PriorityAndFairnessOptions } from './apf.ts';
export { FlowControlController } from './controller.ts';
export { FlowControlMetrics } from './metrics.ts';
export { ObjectCountTracker } from './object-counts.ts';
export { MaxInFlight, freeTicket, isLongRunning, type FlowGate, type Ticket } from './gate.ts';
export { AUTO_UPDATE_ANNOTATION } from './bootstrap.ts';

/** `hedge server`'s flow control flags, upstream's defaults */
export interface FlowControlConfig {
  /** --enable-priority-and-fairness (default true); false = plain max-in-flight limits */
  enablePriorityAndFairness?: boolean;
  /** --max-requests-inflight (default 400) */
  maxRequestsInflight?: number;
  /** --max-mutating-requests-inflight (default 200) */
  maxMutatingRequestsInflight?: number;
  /** longest a request waits in an APF queue before 429 (default 60 s) */
  maxQueueWaitMs?: number;
  /** how often the levels' current seats are adjusted by borrowing (upstream's 10 s; 0 = never, for tests) */
  borrowingAdjustmentPeriodMs?: number;
}

export const DEFAULT_MAX_REQUESTS_INFLIGHT = 400;
export const DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT = 200;
export const DEFAULT_MAX_QUEUE_WAIT_MS = 60_000;
