export { EndpointSliceController, type EndpointSliceControllerConfig } from './controller.ts';
export { MANAGED_BY, MANAGED_BY_LABEL, MAX_ENDPOINTS_PER_SLICE, SERVICE_NAME_LABEL, type EndpointSliceObject, type ServiceObject } from './desired.ts';
