export { Scheduler, type SchedulerConfig, type ScheduleResult } from './scheduler.ts';
export { defaultFilters, offeredHandlers, IMPLICIT_HANDLERS, type Filter, type FilterContext } from './filters/index.ts';
export { fitErrorMessage } from './fit-error.ts';
export { podRequests, nodeAllocatable, type Resources as ResourceAmounts } from './pod-resources.ts';
export { scoreNodes, SCORE_WEIGHTS } from './scores.ts';
export { NodeInfo, podInfo, type PodInfo } from './node-info.ts';
