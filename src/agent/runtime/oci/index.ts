export { OciRuntimeHandler, type OciRuntimeHandlerOptions, type SpanSink } from './oci-handler.ts';
export {
  buildSpec,
  effectiveCapabilities,
  milliCpuToShares,
  milliCpuToQuota,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  type BuildSpecOptions,
  type OciRuntimeKind,
  type OciSpec,
  type OciMount,
  type SpecPaths,
} from './spec.ts';
