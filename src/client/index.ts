export type {
  BindOptions,
  DeleteOptions,
  GetOptions,
  KubeClient,
  ListOptions,
  ListMetaOut,
  ObjectList,
  PatchOptions,
  PatchType,
  Preconditions,
  ResourceRef,
  ResourceTarget,
  WatchEvent,
  WatchEventType,
  WatchOptions,
  WriteOptions,
} from './types.ts';
export { Resources, resolveResource, resourcePath, apiVersionOfRef } from './resources.ts';
export { errorFromStatus } from '../api/meta/status.ts';
export { connectionFromKubeconfig, loadKubeconfig, type ConnectionConfig } from './kubeconfig.ts';
export { HttpKubeClient, type HttpKubeClientOptions } from './http-client.ts';
export { FakeKubeClient, type FakeCall, type FakeVerb } from './fake-client.ts';
export { Informer, cacheKey, stripManagedFields, type InformerHandlers, type InformerOptions } from './informer.ts';
export { SharedInformerFactory, SharedInformer, type InformerScope, type SharedInformerOptions, type SharedInformerFactoryOptions } from './shared-informers.ts';
export { LeaderElector, type LeaderElectionConfig } from './leader-election.ts';
export { Backoff, type BackoffOptions } from './backoff.ts';
export { FakeClock, systemClock, type Clock } from './clock.ts';
export { formatMicroTime, formatTime, parseTime } from './micro-time.ts';
export { parseLabelSelector, matchLabels, parseFieldSelector, matchFields, fieldValue } from './selectors.ts';
