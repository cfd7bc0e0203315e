export * from './types.ts';
export { ResourceRegistry, subresourceInfo, type GroupInfo, type SubresourceInfo } from './registry.ts';
