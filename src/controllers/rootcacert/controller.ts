import { SharedInformerFactory, type SharedInformer } from '../../client/shared-informers.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import type { KubeObject } from '../../api/object.ts';
import { ROOT_CA_CONFIGMAP } from '../../api/service-account.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';

const DESCRIPTION_ANNOTATION = 'kubernetes.io/description';
const DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

export interface RootCaCertPublisherConfig {
  client: KubeClient;
  logger: Logger;
  /** the process's shared informers (default: a factory of its own) */
  informerFactory?: SharedInformerFactory;
  /** PEM bundle the pods get as ca.crt (the CA that signs the apiserver's serving certificate) */
  rootCa: string;
}

type ConfigMapObject = KubeObject & { data?: Record<string, string> };

/**
 * Upstream's root-ca-cert-publisher: every namespace that is not terminating holds a ConfigMap
 * `kube-root-ca.crt` whose `ca.crt` is the cluster's root CA, which the service account volume
 * (apiserver/admission/service-account.ts) projects next to the token. A ConfigMap deleted or
 * changed by someone is put back. Namespaces are reconciled one at a time from a queue.
 */
export class RootCaCertPublisher {
  readonly namespaces: SharedInformer<KubeObject>;
  readonly configMaps: SharedInformer<ConfigMapObject>;
  readonly #cfg: RootCaCertPublisherConfig;
  readonly #log: Logger;
  readonly #queue = new Set<string>();
  #wake: (() => void) | undefined;

  constructor(cfg: RootCaCertPublisherConfig) {
    this.#cfg = cfg;
    this.#log = cfg.logger.child({ component: 'root-ca-cert-publisher' });
    const ns = (o: KubeObject): void => this.#enqueue(o.metadata.name ?? '');
    const cm = (o: KubeObject): void => this.#enqueue(o.metadata.namespace ?? '');
    const factory = cfg.informerFactory ?? new SharedInformerFactory({ client: cfg.client, logger: this.#log });
    this.namespaces = factory.informer<KubeObject>({ resource: Resources.namespaces, onAdd: ns, onUpdate: (_o, n) => ns(n) });
    this.configMaps = factory.informer<ConfigMapObject>({
      resource: Resources.configmaps,
      fieldSelector: `metadata.name=${ROOT_CA_CONFIGMAP}`,
      onUpdate: (_o, n) => cm(n),
      onDelete: cm,
    });
  }

  #enqueue(namespace: string): void {
    if (!namespace) return;
    this.#queue.add(namespace);
    this.#wake?.();
  }

  async run(signal: AbortSignal): Promise<void> {
    const runs = [this.namespaces.run(signal), this.configMaps.run(signal)];
    try {
      await Promise.all([this.namespaces.waitForSync(signal), this.configMaps.waitForSync(signal)]);
    } catch {
      // stopped before the first lists
    }
    while (!signal.aborted) {
      const next = this.#queue.values().next();
      if (next.done) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        this.#wake = undefined;
        continue;
      }
      this.#queue.delete(next.value);
      await this.sync(next.value, signal);
    }
    await Promise.allSettled(runs);
  }

  /** brings one namespace's ConfigMap to the root CA; a failure is retried when the next event comes */
  async sync(namespace: string, signal: AbortSignal): Promise<void> {
    const ns = this.namespaces.get(namespace);
    if (!ns || ns.metadata.deletionTimestamp || (ns as { status?: { phase?: string } }).status?.phase === 'Terminating') return;
    const cur = this.configMaps.get(ROOT_CA_CONFIGMAP, namespace);
    const want = this.#cfg.rootCa;
    try {
      if (!cur) {
        await this.#cfg.client.create(
          Resources.configmaps,
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CA_CONFIGMAP, namespace, annotations: { [DESCRIPTION_ANNOTATION]: DESCRIPTION } }, data: { 'ca.crt': want } } as KubeObject,
          { signal, fieldManager: 'root-ca-cert-publisher' },
        );
      } else if (cur.data?.['ca.crt'] !== want || Object.keys(cur.data ?? {}).length !== 1) {
        await this.#cfg.client.patch(Resources.configmaps, ROOT_CA_CONFIGMAP, 'merge', { data: { ...Object.fromEntries(Object.keys(cur.data ?? {}).map((k) => [k, null])), 'ca.crt': want } }, { namespace, signal, fieldManager: 'root-ca-cert-publisher' });
      }
    } catch (err) {
      if (signal.aborted || isHedgeError(err, 'AlreadyExists') || isHedgeError(err, 'NotFound')) return;
      // a namespace being deleted refuses new objects (Forbidden): nothing to keep there
      if (!isHedgeError(err, 'Forbidden')) this.#log.warn({ err, namespace }, 'could not publish the root CA');
    }
  }
}
