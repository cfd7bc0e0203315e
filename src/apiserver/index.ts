export { createApiServer, type RunningApiServer } from './server.ts';
export { bootstrapNamespaceNames } from './bootstrap/seed.ts';
export type { ApiServer, ApiServerConfig, TlsMaterial } from './types.ts';
export { allowAllAuthorizer, forbidden, type Authorizer, type AuthorizationAttributes, type AuthorizationDecision } from './auth/authorizer.ts';
export {
  AdmissionChain,
  defaultsPlugin,
  namespaceLifecyclePlugin,
  immortalNamespaces,
  type AdmissionOperation,
  type AdmissionPlugin,
  type AdmissionRequest,
} from './admission/index.ts';
export { statusFromError, successStatus, type Status, type StatusDetails } from './status.ts';
export { objectKey, resourcePrefix } from './registry/keys.ts';
export { parseRequestInfo, type RequestInfo, type ResourceRequestInfo, type NonResourceRequestInfo } from './request-info.ts';
export { defaultAuthorizer, authorizeNode } from './auth/node-authorizer.ts';
export { nodeNameOf, NODE_USER_PREFIX, MASTERS_GROUP, NODE_LEASE_NAMESPACE } from './auth/node-identity.ts';
export { runtimeClassPlugin, nodeRestrictionPlugin, type RuntimeClassAdmissionOptions } from './admission/index.ts';
export { defaultRuntimeClasses, runtimeClassObject, type DefaultRuntimeClass } from './bootstrap/runtime-classes.ts';
export { directNodeDialer, relayUpgrade, requestOverStream, writeRawResponse, type DirectNodeDialerOptions, type NodeDialer, type NodeRequest, type NodeResponse } from './node-proxy/index.ts';
export type { ApiGroupProvider, SubresourceProvider, UpgradeScope } from './providers.ts';
export {
  ServiceAccountTokens,
  loadOrCreateServiceAccountKey,
  verifyServiceAccountToken,
  withServiceAccountTokens,
  type ServiceAccountTokenOptions,
} from './serviceaccount/index.ts';
export { reviewDef } from './reviews/index.ts';
export { DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT, DEFAULT_MAX_REQUESTS_INFLIGHT, FLOW_SCHEMA_UID_HEADER, PRIORITY_LEVEL_UID_HEADER, type FlowControlConfig } from './flowcontrol/index.ts';
