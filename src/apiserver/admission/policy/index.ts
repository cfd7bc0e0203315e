export { compileBinding, compilePolicy, type CompiledBinding, type CompiledMatch, type CompiledPolicy } from './compile.ts';
export { AdmissionPolicies, type PolicyHook } from './policies.ts';
export { matchResources, type MatchContext } from './matching.ts';
export { validatingAdmissionPolicyPlugin, type ParamSource, type PolicyPluginOptions } from './plugin.ts';
export { observePolicyGeneration } from './status.ts';
export { PolicyParamCaches, type PolicyParamCachesOptions } from './param-cache.ts';
