export { ClusterRoleAggregationController, clusterRolesRef, type ClusterRoleAggregationConfig } from './controller.ts';
