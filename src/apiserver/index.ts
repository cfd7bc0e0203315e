export { createApiServer, bootstrapNamespaceNames, type RunningApiServer } from './server.ts';
export type { ApiServer, ApiServerConfig, TlsMaterial } from './types.ts';
export { allowAllAuthorizer, forbidden, type Authorizer, type AuthorizationAttributes, type AuthorizationDecision } from './authorizer.ts';
export {
  AdmissionChain,
  defaultsPlugin,
  namespaceLifecyclePlugin,
  immortalNamespaces,
  type AdmissionOperation,
  type AdmissionPlugin,
  type AdmissionRequest,
} from './admission/index.ts';
export { statusFromError, httpStatusFor, successStatus, type Status, type StatusDetails } from './status.ts';
export { objectKey, resourcePrefix } from './registry/keys.ts';
export { parseRequestInfo, type RequestInfo, type ResourceRequestInfo, type NonResourceRequestInfo } from './request-info.ts';
