import { setMaxListeners } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { builtinResources } from '../api/builtin/index.ts';
import { ResourceRegistry } from '../api/resources/index.ts';
import type { ResourceDef } from '../api/resources/types.ts';
import { AdmissionChain, defaultsPlugin, namespaceLifecyclePlugin, nodeRestrictionPlugin, runtimeClassPlugin } from './admission/index.ts';
import type { Authenticator } from './auth/types.ts';
import type { Authorizer } from './auth/authorizer.ts';
import { defaultRuntimeClasses } from './bootstrap/runtime-classes.ts';
import { ensureDefaultServiceAccount, restoreDefaultServiceAccounts, seedBootstrapObjects, systemUser } from './bootstrap/seed.ts';
import { DEFAULT_SERVICE_ACCOUNT } from '../api/service-account.ts';
import { ApiAuthorization } from './auth/authorization.ts';
import { serviceAccountPlugin } from './admission/service-account.ts';
import { podSecurityPlugin } from './admission/pod-security.ts';
import { limitRangerPlugin } from './admission/limit-ranger.ts';
import { resourceQuotaPlugin } from './admission/resource-quota.ts';
import { defaultIngressClassPlugin } from './admission/default-ingress-class.ts';
import { priorityPlugin } from './admission/priority.ts';
import { ObjectCache, type CacheEvent } from './auth/object-cache.ts';
import type { KubeObject } from '../api/object.ts';
import { defaultStorageClassPlugin, storageProtectionPlugin } from './admission/storage.ts';
import { mutatingWebhookPlugin, validatingWebhookPlugin, WebhookConfigurations, webhookTransport } from './admission/webhook/index.ts';
import { AdmissionPolicies, observePolicyGeneration, PolicyParamCaches, validatingAdmissionPolicyPlugin } from './admission/policy/index.ts';
import { tunnelNodeDialer } from './node-proxy/node-dialer.ts';
import { nodeProxyProvider } from './node-proxy/node-proxy-subresource.ts';
import { NodeTunnels } from './node-proxy/node-tunnels.ts';
import { tunnelEndpoint } from './node-proxy/tunnel-endpoint.ts';
import { podLogProvider } from './node-proxy/pod-log.ts';
import { podStreamProvider } from './node-proxy/pod-exec.ts';
import { metricsApi, type MetricsApi } from './metrics/metrics-api.ts';
import type { ApiGroupProvider, SubresourceProvider } from './providers.ts';
import { bindingsProvider } from './handlers/binding.ts';
import { reviewsProvider } from './reviews/reviews-provider.ts';
import { tokenReviewer } from './reviews/token-review.ts';
import { ServiceAccountTokens } from './serviceaccount/token-signer.ts';
import { tokenRequestProvider } from './serviceaccount/token-request.ts';
import { STALE_TOKEN_ANNOTATION, withServiceAccountTokens } from './serviceaccount/authenticator.ts';
import { annotateAuthentication } from './auth/request-annotations.ts';
import { withAnonymous, withOidcTokens } from './auth/authenticator.ts';
import { LEGACY_TOKEN_LAST_USED_LABEL, ServiceAccountTokenValidator, tokenNodeFields, tokenSecretFields, type TokenObjectGetter } from './serviceaccount/token-validator.ts';
import { AuthMetrics } from './auth/auth-metrics.ts';
import { DefaultAccountController } from './serviceaccount/default-account-controller.ts';
import { TokensController } from './serviceaccount/tokens-controller.ts';
import { conflict } from '../lib/errors.ts';
import { collectProcessMetrics, Counter, Registry as MetricsRegistry } from '../lib/prom.ts';
import { createPatchEngine } from './handlers/patch-engine.ts';
import { schemaFieldChecker } from './handlers/field-validation.ts';
import { scaleProvider } from './handlers/scale.ts';
import type { ServerScope } from './handlers/scope.ts';
import { defaultTableConverter } from './handlers/table.ts';
import { NamespaceFinalizer } from './registry/namespace-finalizer.ts';
import { Registry } from './registry/registry.ts';
import { createRequestPipeline } from './request-pipeline.ts';
import { Auditor, auditMetrics, createWebhookBackend, LogBackend, unionBackend, type AuditBackend, type AuditMetrics } from './audit/index.ts';
import type { ApiServer, ApiServerConfig } from './types.ts';
import type { Logger } from '../lib/log.ts';
import {
  DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT,
  DEFAULT_MAX_QUEUE_WAIT_MS,
  DEFAULT_MAX_REQUESTS_INFLIGHT,
  FlowControlController,
  FlowControlMetrics,
  MaxInFlight,
  ObjectCountTracker,
  PriorityAndFairness,
  type FlowGate,
} from './flowcontrol/index.ts';
import { FLOWCONTROL_GROUP } from '../api/validation/flowcontrol.ts';
import { createUpgradeListener } from './upgrade.ts';
import { CRD_GROUP, CRD_PLURAL } from '../api/crd/index.ts';
import { CrdController, crdFinalizerPlugin } from './crd/crd-controller.ts';
import { patchAllocatedValues, ServiceAllocator } from './services/service-allocator.ts';
import { ensureKubernetesService } from './services/kubernetes-service.ts';
import { listenBacklog } from '../lib/http/listen-backlog.ts';
import { DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, firstServiceIp, parseNodePortRange, parseServiceIpRanges } from './services/service-ranges.ts';

/** The running server, with its internals for tests and the CLI. */
export interface RunningApiServer extends ApiServer {
  readonly registry: Registry;
  readonly serviceAccountTokens: ServiceAccountTokens;
  /** tunnels the nodes hold open to this server (node-bound requests go through them) */
  readonly nodeTunnels: NodeTunnels;
  /** Service ClusterIP/NodePort reservations */
  readonly serviceAllocator: ServiceAllocator;
  /** resolves once no terminating namespace is waiting to be emptied */
  namespacesIdle(): Promise<void>;
  /**
   * the server's `request` listener, for a front in the same process (the edgehub's) to hand a
   * request to without a loopback HTTP hop; authentication is the listener's as for any request
   */
  readonly listener: (req: IncomingMessage, res: ServerResponse) => void;
  /** metrics.k8s.io (when config.metrics is set) */
  readonly metrics?: MetricsApi;
  /** what /metrics serves: process, authentication/authorization, audit and storage transformation metrics */
  readonly metricsRegistry: MetricsRegistry;
  /** API Priority and Fairness, when on (flowcontrol/) */
  readonly priorityAndFairness?: PriorityAndFairness;
  /** resolves once the FlowSchema status writes in flight are done */
  flowControlIdle(): Promise<void>;
}

/** A Kubernetes-compatible REST API server over `config.store`. */
export async function createApiServer(config: ApiServerConfig): Promise<RunningApiServer> {
  const log = config.logger;
  // the apiserver's own /metrics (upstream's names; process metrics as every component has): the
  // CLI's (encryption at rest registers its counters there first), else our own
  const metricsRegistry = config.metricsRegistry ?? new MetricsRegistry();
  collectProcessMetrics(metricsRegistry);
  const authMetrics = new AuthMetrics(metricsRegistry);
  const authz = new ApiAuthorization({ configured: config.authorizer, metrics: authMetrics });
  const authorizer: Authorizer = authz.authorizer;
  const saTokens = new ServiceAccountTokens(config.serviceAccountTokens);
  // service account tokens are checked against the objects they name, read from caches that
  // follow the store (below); a miss reads the store, as upstream's getter falls back to a live get
  const cachedOrStored = (f: Followed | undefined, def: ResourceDef | undefined) => async (namespace: string, name: string): Promise<KubeObject | undefined> => {
    if (!def) return undefined;
    return (f?.synced ? f.cache.get(namespace, name) : undefined) ?? (await registry.storeFor(def).tryGet(namespace, name))?.obj;
  };
  const tokenObjects: TokenObjectGetter = {
    serviceAccount: (ns, name) => cachedOrStored(serviceAccounts, saDef)(ns, name),
    pod: (ns, name) => cachedOrStored(pods, podDef)(ns, name),
    secret: (ns, name) => cachedOrStored(secrets, secretDef)(ns, name),
    node: (name) => cachedOrStored(nodes, nodeDef)('', name),
  };
  // a legacy token's use labels its Secret (at most daily, upstream's kubernetes.io/legacy-token-last-used)
  const recordLegacyTokenUse = (secret: { namespace: string; name: string; uid: string }, day: string): void => {
    if (!secretDef) return;
    const patch = { metadata: { uid: secret.uid, labels: { [LEGACY_TOKEN_LAST_USED_LABEL]: day } } };
    void registry
      .transform(secretDef, secret.namespace, secret.name, '', { user: systemUser, dryRun: false, signal: closing.signal, fieldManager: 'kube-apiserver' }, (cur) => {
        // the UID in the patch is a precondition: a Secret recreated since is not the one used
        if (cur.metadata.uid !== patch.metadata.uid) throw conflict('secrets', secret.name, 'the object has been modified');
        return { ...cur, metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, ...patch.metadata.labels } } };
      })
      .catch((err: unknown) => log.warn({ err, namespace: secret.namespace, secret: secret.name }, 'could not label a legacy service account token with its last-used date'));
  };
  // the edge hub's replica (no bootstrap) writes nothing of its own: no labels either
  const saValidator = new ServiceAccountTokenValidator({
    tokens: saTokens,
    getter: tokenObjects,
    now: () => registry.now(),
    recordLegacyTokenUse: config.bootstrapNamespaces !== false ? recordLegacyTokenUse : undefined,
  });
  // upstream's serviceaccount_stale_tokens_total and stale-token audit annotation: a pod still uses
  // an extended token past the hour it asked for (its node has not renewed it: offline, or an old client)
  const staleTokens = new Counter({ name: 'serviceaccount_stale_tokens_total', help: 'Cumulative stale projected service account tokens used', registers: [metricsRegistry] });
  const onStaleToken = (req: IncomingMessage, subject: string, seconds: number): void => {
    staleTokens.inc();
    annotateAuthentication(req, STALE_TOKEN_ANNOTATION, `subject: ${subject}, seconds after warning threshold: ${seconds}`);
  };
  const authenticated: Authenticator = withOidcTokens(withServiceAccountTokens(config.authenticator, saValidator, onStaleToken), config.oidc);
  const authenticator = config.anonymousAuth === false ? authenticated : withAnonymous(authenticated);
  config.oidc?.start();
  // node tunnels (node-proxy/): nodes dial in; node-bound requests use a node's tunnel, else dial it
  const nodeTunnels = new NodeTunnels({ logger: log.child({ component: 'node-tunnels' }) });
  const tunnel = tunnelEndpoint({ tunnels: nodeTunnels, keepalive: config.nodeTunnelKeepalive });
  const dialer = config.nodeDialer ?? tunnelNodeDialer({ tunnels: nodeTunnels, client: config.kubeletClient });
  const metrics = config.metrics === undefined ? undefined : metricsApi({ ...config.metrics, logger: log.child({ component: 'metrics' }) });
  const groupProviders: ApiGroupProvider[] = [reviewsProvider({ authorizer, rules: authz.rules, tokens: tokenReviewer({ authenticator: config.authenticator, serviceAccounts: saValidator, oidc: config.oidc, implicitAudiences: saTokens.audiences }) }), bindingsProvider(), tunnel.group, ...(metrics ? [metrics] : []), ...(config.apiGroupProviders ?? [])];
  const subProviders: SubresourceProvider[] = [
    podLogProvider({ dialer }),
    podStreamProvider('exec', { dialer }),
    podStreamProvider('attach', { dialer }),
    podStreamProvider('portforward', { dialer }),
    nodeProxyProvider({ dialer }),
    tunnel.connect,
    tokenRequestProvider({ tokens: saTokens }),
    scaleProvider('apps', 'deployments'),
    scaleProvider('apps', 'replicasets'),
    scaleProvider('apps', 'statefulsets'),
  ];
  const baseDefs = withSubresources(config.resources ?? builtinResources(), subProviders);
  const resources = new ResourceRegistry([...baseDefs, ...groupProviders.flatMap((p) => p.resources)]);
  const rcDef = resources.lookup('node.k8s.io', 'v1', 'runtimeclasses');
  const pcDef = resources.lookup('scheduling.k8s.io', 'v1', 'priorityclasses');
  const nsDef = resources.lookup('', 'v1', 'namespaces');
  const saDef = resources.lookup('', 'v1', 'serviceaccounts');
  const svcDef = resources.lookup('', 'v1', 'services');
  const quotaDef = resources.lookup('', 'v1', 'resourcequotas');
  const limitRangeDef = resources.lookup('', 'v1', 'limitranges');
  const storageClassDef = resources.lookup('storage.k8s.io', 'v1', 'storageclasses');
  const ingressClassDef = resources.lookup('networking.k8s.io', 'v1', 'ingressclasses');
  /** a namespace's objects of one type as stored now (read-only, shared decodes) */
  const storedIn = async (def: ResourceDef | undefined, namespace: string) =>
    def ? (await registry.storeFor(def).list(namespace, {})).items.map((kv) => registry.codec.decode(kv).obj) : [];
  const serviceAllocator = new ServiceAllocator({
    store: config.store,
    ipRanges: parseServiceIpRanges(config.services?.clusterIpRange ?? DEFAULT_SERVICE_CIDR),
    nodePortRange: parseNodePortRange(config.services?.nodePortRange ?? DEFAULT_NODE_PORT_RANGE),
  });
  const closing = new AbortController();
  // every open watch listens on it; thousands of watchers are normal, not a leak
  setMaxListeners(0, closing.signal);
  // what requests read from caches that follow the store: a namespace's LimitRanges, whether it
  // has ResourceQuotas and the pod's ServiceAccount (every pod create), the webhook configurations
  // (every write)
  type Followed = { cache: ObjectCache; synced: boolean };
  const followed = (def: ResourceDef | undefined, onChange?: (ev: CacheEvent<KubeObject>) => void, project?: (obj: KubeObject) => KubeObject): Followed | undefined =>
    def ? { cache: new ObjectCache({ registry, def, logger: log, signal: closing.signal, onEvent: onChange, project }), synced: false } : undefined;
  // dynamic admission webhooks (admission/webhook/): configurations followed by caches, calls by url
  // or to a Service's endpoint through its node's tunnel
  const webhookDefs = {
    mutating: resources.lookup('admissionregistration.k8s.io', 'v1', 'mutatingwebhookconfigurations'),
    validating: resources.lookup('admissionregistration.k8s.io', 'v1', 'validatingwebhookconfigurations'),
  };
  const nodeDef = resources.lookup('', 'v1', 'nodes');
  const podDef = resources.lookup('', 'v1', 'pods');
  const secretDef = resources.lookup('', 'v1', 'secrets');
  const sliceDef = resources.lookup('discovery.k8s.io', 'v1', 'endpointslices');
  const webhooks = {
    mutating: new WebhookConfigurations(() => webhookCaches.mutating?.cache.list() ?? []),
    validating: new WebhookConfigurations(() => webhookCaches.validating?.cache.list() ?? []),
  };
  // ValidatingAdmissionPolicies and their bindings (admission/policy/): followed by caches,
  // compiled once per generation
  const policyDefs = {
    policies: resources.lookup('admissionregistration.k8s.io', 'v1', 'validatingadmissionpolicies'),
    bindings: resources.lookup('admissionregistration.k8s.io', 'v1', 'validatingadmissionpolicybindings'),
  };
  const admissionPolicies = new AdmissionPolicies({ policies: () => policyCaches.policies?.cache.list() ?? [], bindings: () => policyCaches.bindings?.cache.list() ?? [] });
  const webhookCalls = webhookTransport({
    getService: async (ns, name) => (svcDef ? (await registry.storeFor(svcDef).tryGet(ns, name))?.obj : undefined),
    listEndpointSlices: (ns) => storedIn(sliceDef, ns),
    getNode: async (name) => (nodeDef ? (await registry.storeFor(nodeDef).tryGet('', name))?.obj : undefined),
    dialer,
  });
  const webhookDispatch = {
    transport: webhookCalls,
    namespaceLabels: async (name: string) => (nsDef ? (await registry.storeFor(nsDef).tryGet('', name))?.obj.metadata.labels : undefined),
    equivalentDefs: (def: ResourceDef) => resources.all().filter((d) => d.group === def.group && d.plural === def.plural && d.version !== def.version),
    logger: log.child({ component: 'admission-webhook' }),
  };

  const admission = new AdmissionChain([
    defaultsPlugin(),
    runtimeClassPlugin({ getRuntimeClass: async (name) => (rcDef ? (await registry.storeFor(rcDef).tryGet('', name))?.obj : undefined) }),
    namespaceLifecyclePlugin({
      // Without a namespaces resource there is no lifecycle to enforce.
      getNamespace: async (name) => (nsDef ? (await registry.storeFor(nsDef).tryGet('', name))?.obj : { metadata: { name } }),
    }),
    limitRangerPlugin({ listLimitRanges: async (ns) => (limitRanges?.synced ? limitRanges.cache.inNamespace(ns) : storedIn(limitRangeDef, ns)) }),
    // read from the store, not the pod cache: a node asks right after the pod was bound to it
    nodeRestrictionPlugin({
      getPod: async (ns, name) => (podDef ? (await registry.storeFor(podDef).tryGet(ns, name))?.obj : undefined),
      getNode: async (name) => (nodeDef ? (await registry.storeFor(nodeDef).tryGet('', name))?.obj : undefined),
    }),
    serviceAccountPlugin({
      // upstream's lister, then a live read: one created a moment ago (the namespace's `default`) is
      // in the store before the cache's watch brings it
      getServiceAccount: async (ns, name) => {
        if (!saDef) return { metadata: { name, namespace: ns } };
        return (serviceAccounts?.synced ? serviceAccounts.cache.get(ns, name) : undefined) ?? (await registry.storeFor(saDef).tryGet(ns, name))?.obj;
      },
    }),
    podSecurityPlugin({
      ...config.podSecurity,
      logger: log,
      getNamespace: async (name) => (nsDef ? (await registry.storeFor(nsDef).tryGet('', name))?.obj : undefined),
    }),
    // upstream's position: after PodSecurity, before RuntimeClass and the quota plugins
    priorityPlugin({
      getPriorityClass: async (name) => {
        if (!pcDef) return undefined;
        return priorityClasses?.get('', name) ?? (await registry.storeFor(pcDef).tryGet('', name))?.obj;
      },
      listPriorityClasses: async ({ fresh }) => {
        if (!pcDef) return [];
        if (!fresh && priorityClassesSynced && priorityClasses) return priorityClasses.list();
        const res = await registry.storeFor(pcDef).list(undefined, {});
        return res.items.map((kv) => registry.codec.decode(kv).obj);
      },
    }),
    defaultStorageClassPlugin({ listStorageClasses: () => storedIn(storageClassDef, '') }),
    storageProtectionPlugin(),
    defaultIngressClassPlugin({ listIngressClasses: () => storedIn(ingressClassDef, '') }),
    ...authz.admissionPlugins(),
    crdFinalizerPlugin(),
    ...(config.admissionPlugins ?? []),
    // upstream's place: after the built-in plugins, before ResourceQuota
    mutatingWebhookPlugin({ ...webhookDispatch, webhooks: () => webhooks.mutating.webhooks() }),
    // upstream's order: the policies before the validating webhooks
    validatingAdmissionPolicyPlugin({
      hooks: () => admissionPolicies.hooks(),
      namespaceLabels: webhookDispatch.namespaceLabels,
      equivalentDefs: webhookDispatch.equivalentDefs,
      getNamespace: async (name) => (nsDef ? (await registry.storeFor(nsDef).tryGet('', name))?.obj : undefined),
      params: {
        resolve: (apiVersion, kind) => resolveParamKind(apiVersion, kind),
        get: (def, ns, name) => policyParams.get(def, ns, name),
        list: (def, ns) => policyParams.list(def, ns),
      },
      logger: log.child({ component: 'admission-policy' }),
    }),
    validatingWebhookPlugin({ ...webhookDispatch, webhooks: () => webhooks.validating.webhooks() }),
    // last: it writes the quotas' usage, so nothing after it may refuse the request
    resourceQuotaPlugin({
      listQuotas: (ns) => storedIn(quotaDef, ns),
      updateQuotaStatus: async (quota, signal) => {
        if (!quotaDef) return;
        const rv = quota.metadata.resourceVersion;
        // the resourceVersion that was checked is the precondition: a quota changed since is a 409
        await registry.transform(quotaDef, quota.metadata.namespace ?? '', quota.metadata.name ?? '', 'status', { user: systemUser, dryRun: false, signal }, (cur) => ({
          ...cur,
          metadata: { ...cur.metadata, resourceVersion: rv },
          status: quota.status,
        }));
      },
      exists: async (req) => req.name !== '' && (await registry.storeFor(req.def).tryGet(req.namespace, req.name)) !== undefined,
      // the common namespace has no quota: the cache says so without a read (a quota created a
      // moment ago may be missed, as by upstream's lister; the quota controller's recount fixes usage)
      mayHaveQuotas: (ns) => !quotas?.synced || quotas.cache.inNamespace(ns).length > 0,
    }),
  ]);
  const patch = createPatchEngine();
  // KMS v2: the plugin's first Status and DEK seed; reads get their DEKs decrypted before decoding
  await config.encryption?.start();
  const registry: Registry = new Registry({ store: config.encryption?.wrapStore(config.store) ?? config.store, resources, admission, encryption: config.encryption });
  // PriorityClasses for the Priority admission of pods (upstream's lister); started after seeding
  const priorityClasses = pcDef ? new ObjectCache({ registry, def: pcDef, logger: log, signal: closing.signal }) : undefined;
  let priorityClassesSynced = false;
  const limitRanges = followed(limitRangeDef);
  const quotas = followed(quotaDef);
  const serviceAccounts = followed(saDef);
  const namespaces = followed(nsDef);
  // what service account tokens are bound to (token-validator.ts); the pods are the node authorizer's too
  const pods = followed(podDef);
  const nodes = followed(nodeDef, undefined, tokenNodeFields);
  const secrets = followed(secretDef, undefined, tokenSecretFields);
  const webhookCaches = {
    mutating: followed(webhookDefs.mutating, () => webhooks.mutating.changed()),
    validating: followed(webhookDefs.validating, () => webhooks.validating.changed()),
  };
  // the policies' params (paramKind objects): a cache per kind a policy names, not a read per request
  const resolveParamKind = (apiVersion: string, kind: string): ResourceDef | undefined => {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    return resources.all().find((d) => d.group === group && d.version === version && d.kind === kind);
  };
  const policyParams = new PolicyParamCaches({
    registry,
    logger: log,
    signal: closing.signal,
    read: { get: async (def, ns, name) => (await registry.storeFor(def).tryGet(ns, name))?.obj, list: (def, ns) => storedIn(def, ns) },
  });
  const policyCaches = {
    policies: followed(policyDefs.policies, (ev) => {
      admissionPolicies.changed();
      if (ev.type !== 'added') {
        policyParams.retain([...(policyCaches.policies?.cache.list() ?? [])].map((p) => {
          const pk = (p.spec as { paramKind?: { apiVersion?: string; kind?: string } } | undefined)?.paramKind;
          return pk?.apiVersion && pk.kind ? resolveParamKind(pk.apiVersion, pk.kind) : undefined;
        }));
      }
      const def = policyDefs.policies;
      if (!def) return;
      const observe = (obj: KubeObject): void => void observePolicyGeneration({ registry, def, obj, user: systemUser, signal: closing.signal, logger: log });
      if (ev.type === 'added' || ev.type === 'updated') observe(ev.obj);
      else if (ev.type === 'resynced') for (const obj of policyCaches.policies?.cache.list() ?? []) observe(obj);
    }),
    bindings: followed(policyDefs.bindings, () => admissionPolicies.changed()),
  };
  const finalizer = new NamespaceFinalizer({ registry, logger: log, retryMs: config.namespaceRetryMs });
  registry.hooks = {
    trackManagedFields: ({ def, old, obj, manager, subresource, now }) => patch.trackUpdate(def, old, obj, manager, subresource, now),
    afterCreate: async (def, obj) => {
      if (def === nsDef && saDef && obj.metadata.name) {
        await ensureDefaultServiceAccount({ registry, serviceAccounts: saDef, namespace: obj.metadata.name, signal: closing.signal, log });
      }
    },
    namespaceTerminating: (name) => finalizer.enqueue(name),
    // Services get their cluster IP and node ports reserved in the store (services/)
    beginWrite: async ({ def, obj, old, dryRun }) => {
      if (def !== svcDef) return undefined;
      if (old) return serviceAllocator.beginUpdate(obj, old, dryRun);
      // a name that is taken fails as AlreadyExists without touching any reservation
      if (await registry.storeFor(def).tryGet(obj.metadata.namespace ?? '', obj.metadata.name ?? '')) return undefined;
      return serviceAllocator.beginCreate(obj, dryRun);
    },
    prepareWrite: ({ def, obj, old }) => {
      if (def === svcDef) patchAllocatedValues(obj, old);
    },
    afterDelete: async (def, obj) => {
      if (def === svcDef) await serviceAllocator.release(obj).catch((err: unknown) => log.warn({ err }, 'could not release a Service\'s addresses'));
      // pods are refused without their account: the `default` one comes back, as upstream's controller makes it
      if (def === saDef && nsDef && obj.metadata.name === DEFAULT_SERVICE_ACCOUNT) {
        await restoreDefaultServiceAccounts({ registry, namespaces: nsDef, serviceAccounts: saDef, namespace: obj.metadata.namespace ?? '', signal: closing.signal, log });
      }
    },
  };

  await seedBootstrapObjects({
    registry,
    namespaces: nsDef,
    runtimeClasses: rcDef,
    seedNamespaces: config.bootstrapNamespaces !== false,
    defaultRuntimeClasses: config.runtimeClasses ?? defaultRuntimeClasses,
    priorityClasses: pcDef,
    storageClasses: storageClassDef,
    ingressClasses: ingressClassDef,
    signal: closing.signal,
  });
  await priorityClasses?.start();
  priorityClassesSynced = true;
  for (const f of [limitRanges, quotas, serviceAccounts, namespaces, pods, nodes, secrets, webhookCaches.mutating, webhookCaches.validating, policyCaches.policies, policyCaches.bindings]) {
    if (!f) continue;
    await f.cache.start();
    f.synced = true;
  }
  // the edge hub's replica (no bootstrap) holds what the cloud has; it makes nothing of its own
  if (nsDef && saDef && serviceAccounts && config.bootstrapNamespaces !== false) {
    const { cache } = serviceAccounts;
    await restoreDefaultServiceAccounts({ registry, namespaces: nsDef, serviceAccounts: saDef, hasDefault: (ns) => cache.get(ns, DEFAULT_SERVICE_ACCOUNT) !== undefined, signal: closing.signal, log });
  }
  // and what converges: a create that failed above or in a hook is tried again with backoff
  if (saDef && serviceAccounts && namespaces && config.bootstrapNamespaces !== false) {
    new DefaultAccountController({
      registry,
      serviceAccounts: saDef,
      namespaceCache: namespaces.cache,
      accountCache: serviceAccounts.cache,
      logger: log.child({ component: 'serviceaccounts-controller' }),
      signal: closing.signal,
      backoff: config.defaultAccountBackoff,
    }).start();
  }
  // secret-based tokens: filled in for their account, deleted with it (upstream's tokens controller)
  const tokensController =
    saDef && secretDef && serviceAccounts && secrets && config.bootstrapNamespaces !== false
      ? new TokensController({
          registry,
          secrets: secretDef,
          serviceAccounts: saDef,
          secretCache: secrets.cache,
          accountCache: serviceAccounts.cache,
          tokens: saTokens,
          rootCa: config.serviceAccountRootCa,
          logger: log.child({ component: 'tokens-controller' }),
          signal: closing.signal,
          backoff: config.tokensControllerBackoff,
        })
      : undefined;
  tokensController?.start();
  // stored CRDs are served before the server listens (a restarted server serves them at once)
  const crdController = resources.lookup(CRD_GROUP, 'v1', CRD_PLURAL)
    ? new CrdController({ registry, resources, logger: log, signal: closing.signal })
    : undefined;
  await crdController?.start();
  await authz.start({ registry, resources, logger: log, signal: closing.signal, systemUser, bootstrapPolicy: config.bootstrapPolicy !== false, pods: pods?.cache });
  await finalizer.resume();
  metrics?.start({ registry, dialer, signal: closing.signal });
  // overload protection (flowcontrol/): APF classifies by the stored FlowSchemas, else max-in-flight
  const fc = config.flowControl ?? {};
  const maxReadonly = fc.maxRequestsInflight ?? DEFAULT_MAX_REQUESTS_INFLIGHT;
  const maxMutating = fc.maxMutatingRequestsInflight ?? DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT;
  const fsDef = resources.lookup(FLOWCONTROL_GROUP, 'v1', 'flowschemas');
  const plDef = resources.lookup(FLOWCONTROL_GROUP, 'v1', 'prioritylevelconfigurations');
  let flowGate: FlowGate | undefined;
  let priorityAndFairness: PriorityAndFairness | undefined;
  let flowController: FlowControlController | undefined;
  if (fc.enablePriorityAndFairness !== false && fsDef && plDef) {
    // the stored objects of each type, counted every minute, for the LIST work estimate
    const objectCounts = new ObjectCountTracker(
      // a version served over another's objects (autoscaling/v1) would count them twice
      () => resources.all().filter((def) => !def.conversion).map((def) => ({ group: def.group, resource: def.plural, count: () => registry.store.count(registry.storeFor(def).prefix()) })),
      { logger: log.child({ component: 'flowcontrol' }) },
    );
    void objectCounts.start(closing.signal);
    const apf = new PriorityAndFairness({
      serverConcurrencyLimit: maxReadonly + maxMutating,
      maxWaitMs: fc.maxQueueWaitMs ?? DEFAULT_MAX_QUEUE_WAIT_MS,
      metrics: new FlowControlMetrics(metricsRegistry),
      logger: log.child({ component: 'flowcontrol' }),
      objectCount: (group, resource) => objectCounts.get(group, resource),
      borrowingPeriodMs: fc.borrowingAdjustmentPeriodMs,
    });
    closing.signal.addEventListener('abort', () => apf.close(), { once: true });
    priorityAndFairness = apf;
    flowController = new FlowControlController({
      registry,
      flowSchemas: fsDef,
      priorityLevels: plDef,
      apf: priorityAndFairness,
      user: systemUser,
      signal: closing.signal,
      logger: log.child({ component: 'flowcontrol' }),
      bootstrap: config.bootstrapNamespaces !== false,
    });
    await flowController.start();
    flowGate = priorityAndFairness;
  } else if (fc.enablePriorityAndFairness === false && (maxReadonly > 0 || maxMutating > 0)) {
    flowGate = new MaxInFlight({ readonly: maxReadonly, mutating: maxMutating });
  }

  const scope: ServerScope = {
    registry,
    log,
    maxBodyBytes: config.maxBodyBytes ?? 3 * 1024 * 1024,
    table: defaultTableConverter,
    fields: schemaFieldChecker(),
    patch,
    bookmarkIntervalMs: config.watchBookmarkIntervalMs ?? 60_000,
    defaultWatchTimeoutSeconds: config.watchTimeoutSeconds ?? 1800,
    closing: closing.signal,
  };
  // the audit counters on /metrics, registered whether or not auditing is on (as upstream)
  const auditCounters = auditMetrics(metricsRegistry);
  const auditor = config.audit ? new Auditor({ policy: config.audit.policy, metrics: auditCounters, backend: auditBackend(config.audit, auditCounters, log) }) : undefined;
  let serverAddress = '';
  const pipeline = createRequestPipeline({
    server: scope,
    resources,
    authenticator,
    authorizer,
    groupProviders,
    subresources: subProviders,
    serverAddress: () => serverAddress,
    authMetrics,
    metricsRegistry,
    auditor,
    flowGate,
    apfDebugLevels: priorityAndFairness ? () => priorityAndFairness!.debugLevels() : undefined,
    // upstream: one check of every KMS provider; with automatic reload there even without any (a reload may bring them)
    healthChecks: config.encryption && (config.encryption.kms.size > 0 || config.encryption.automaticReload) ? [{ name: 'kms-providers', endpoints: ['healthz', 'readyz'], check: () => config.encryption!.checkKms() }] : [],
  });

  const server: Server = config.tls
    ? createHttpsServer(
        { cert: config.tls.cert, key: config.tls.key, ca: config.tls.clientCa, requestCert: true, rejectUnauthorized: false },
        pipeline.listener,
      )
    : createHttpServer(pipeline.listener);
  server.keepAliveTimeout = 65_000;
  server.on('upgrade', createUpgradeListener({ server: scope, pipeline, auditor }));
  server.on('clientError', (err, socket) => {
    log.debug({ err }, 'client error');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: config.port, host: config.host, backlog: listenBacklog() }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  serverAddress = `${host}:${addr.port}`;
  const url = `${config.tls ? 'https' : 'http'}://${serverAddress}`;
  if (svcDef && config.bootstrapNamespaces !== false) {
    const adv = config.services?.advertise;
    await ensureKubernetesService({
      registry,
      services: svcDef,
      endpointSlices: resources.lookup('discovery.k8s.io', 'v1', 'endpointslices'),
      endpoints: resources.lookup('', 'v1', 'endpoints'),
      clusterIp: firstServiceIp(serviceAllocator.ipRanges[0]!),
      advertise: adv ? { address: adv.address, port: adv.port ?? addr.port } : undefined,
      user: systemUser,
      signal: closing.signal,
      log,
    });
  }
  log.info({ url }, 'apiserver listening');

  let closed: Promise<void> | undefined;
  return {
    url,
    registry,
    serviceAccountTokens: saTokens,
    nodeTunnels,
    metrics,
    serviceAllocator,
    metricsRegistry,
    priorityAndFairness,
    flowControlIdle: async () => flowController?.idle(),
    namespacesIdle: () => finalizer.idle(),
    listener: pipeline.listener,
    close() {
      closed ??= (async () => {
        closing.abort();
        finalizer.close();
        webhookCalls.close();
        nodeTunnels.close();
        await config.oidc?.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // watches end via `closing`; anything else still open is cut
          setImmediate(() => server.closeAllConnections());
        });
        // the ResponseComplete events of the requests just ended, then the file is closed
        await new Promise((resolve) => setImmediate(resolve));
        await auditor?.close();
        config.encryption?.close();
      })();
      return closed;
    },
  };
}

/** the log and/or webhook backend (upstream's union when both: every event goes to each) */
function auditBackend(audit: NonNullable<ApiServerConfig['audit']>, metrics: AuditMetrics, log: Logger): AuditBackend {
  const logger = log.child({ component: 'audit' });
  const backends: AuditBackend[] = [];
  if (audit.sink) backends.push(new LogBackend({ sink: audit.sink, metrics, logger, bufferSize: audit.bufferSize, batchMaxSize: audit.batchMaxSize }));
  if (audit.webhook) backends.push(createWebhookBackend({ ...audit.webhook, metrics, logger: logger.child({ plugin: 'webhook' }) }));
  if (backends.length === 0) throw new Error('audit needs a log sink or a webhook');
  return unionBackend(backends);
}

/** Subresources served by providers appear in discovery like the built-in ones (pods/attach, serviceaccounts/token). */
function withSubresources(defs: ResourceDef[], providers: SubresourceProvider[]): ResourceDef[] {
  return defs.map((def) => {
    const extra = providers
      .filter((p) => p.group === def.group && p.resource === def.plural && !def.subresources.includes(p.subresource))
      .map((p) => p.subresource);
    return extra.length === 0 ? def : { ...def, subresources: [...def.subresources, ...extra] };
  });
}
