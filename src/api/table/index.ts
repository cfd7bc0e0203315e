export { humanDuration, since } from './duration.ts';
export { ageColumn, column, nameColumn } from './columns.ts';
export { podTable, summarizePod, type PodSummary } from './pod.ts';
export { nodeRoles, nodeStatus, nodeTable } from './node.ts';
export { formatLabels, portString, serviceExternalIP, serviceTable } from './service.ts';
export { eventTable } from './event.ts';
export {
  configMapTable,
  defaultTable,
  endpointsTable,
  formatEndpoints,
  leaseTable,
  namespaceTable,
  runtimeClassTable,
  secretTable,
  serviceAccountTable,
} from './simple.ts';
export {
  tableDefFor,
  toTable,
  type IncludeObject,
  type Table,
  type TableColumnDefinition,
  type TableRow,
  type ToTableOptions,
} from './to-table.ts';
export {
  controllerRevisionTable,
  cronJobTable,
  daemonSetTable,
  deploymentTable,
  endpointSliceTable,
  formatSelector,
  jobTable,
  podDisruptionBudgetTable,
  replicaSetTable,
  statefulSetTable,
} from './workloads.ts';
