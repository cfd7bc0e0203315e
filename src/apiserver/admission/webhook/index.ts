export { compileConfiguration, deniedError, mutatingWebhookPlugin, validatingWebhookPlugin, type CompiledWebhook, type WebhookDispatchOptions } from './dispatch.ts';
export { WebhookConfigurations } from './configurations.ts';
export { POD_CONNECT_UPGRADE, podConnectPath, webhookTransport, type WebhookPost, type WebhookTransport, type WebhookTransportOptions } from './transport.ts';
export { resolveServiceEndpoint, type ServiceEndpoint, type ServiceLookups } from './service-endpoint.ts';
export { WebhookCallError } from './review.ts';
