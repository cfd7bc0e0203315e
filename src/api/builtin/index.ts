export { builtinResources } from './builtin-resources.ts';
