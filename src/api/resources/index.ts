export * from './types.ts';
export { builtinResources } from './builtin.ts';
export { ResourceRegistry, subresourceInfo, type GroupInfo, type SubresourceInfo } from './registry.ts';
