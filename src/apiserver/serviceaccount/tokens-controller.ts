import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { CacheEvent, ObjectCache } from '../auth/object-cache.ts';
import { systemUser } from '../bootstrap/seed.ts';
import type { OperationContext, Registry } from '../registry/registry.ts';
import { RetryQueue, type RetryBackoff, type SyncOutcome } from './retry-queue.ts';
import type { ServiceAccountTokens } from './token-signer.ts';
import { SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_TOKEN_TYPE, SERVICE_ACCOUNT_UID_ANNOTATION } from './token-validator.ts';

/** the data keys of a service-account-token Secret (v1.ServiceAccountTokenKey, RootCAKey, NamespaceKey) */
export const TOKEN_DATA_KEY = 'token';
export const CA_DATA_KEY = 'ca.crt';
export const NAMESPACE_DATA_KEY = 'namespace';

export const TOKENS_BACKOFF: RetryBackoff = { initialMs: 200, maxMs: 60_000 };
/** upstream's tokens controller gives an item up after this many retries (until its next event) */
const MAX_RETRIES = 10;

export interface TokensControllerOptions {
  registry: Registry;
  secrets: ResourceDef;
  serviceAccounts: ResourceDef;
  /** started caches: the Secrets (slim: tokenSecretFields) and the ServiceAccounts */
  secretCache: ObjectCache;
  accountCache: ObjectCache;
  tokens: ServiceAccountTokens;
  /** PEM the Secrets' ca.crt holds (upstream --root-ca-file); none is written when undefined */
  rootCa?: string;
  logger: Logger;
  signal: AbortSignal;
  backoff?: Partial<RetryBackoff>;
}

/** what the controller syncs: a token Secret (by its identity when queued), or an account that went */
type Item = { kind: 'secret'; namespace: string; name: string; uid: string } | { kind: 'account'; namespace: string; name: string; uid: string };

const isTokenSecret = (obj: KubeObject): boolean => obj.type === SERVICE_ACCOUNT_TOKEN_TYPE;
const annotation = (obj: KubeObject, key: string): string => obj.metadata.annotations?.[key] ?? '';
const dataOf = (obj: KubeObject): Record<string, string> => (obj.data ?? {}) as Record<string, string>;
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

/** upstream's IsServiceAccountToken: a token Secret naming this account, with its UID when it names one */
export function isTokenOf(secret: KubeObject, sa: { name: string; uid: string }): boolean {
  if (!isTokenSecret(secret) || annotation(secret, SERVICE_ACCOUNT_NAME_ANNOTATION) !== sa.name) return false;
  const uid = annotation(secret, SERVICE_ACCOUNT_UID_ANNOTATION);
  return uid === '' || uid === sa.uid;
}

/**
 * Upstream's tokens controller (pkg/controller/serviceaccount/tokens_controller.go), run in the
 * apiserver beside the default-account controller. A Secret of type
 * kubernetes.io/service-account-token naming a ServiceAccount (annotation
 * kubernetes.io/service-account.name, and .uid when given) gets `token` (a legacy JWT),
 * `namespace` and `ca.crt` filled in and both annotations set; one whose account does not exist
 * (or has another UID) is deleted; when an account is deleted its token Secrets are deleted; a
 * token Secret deleted is dropped from its account's `secrets`. Failed syncs are retried with
 * backoff (upstream's rate-limited queues, 10 retries).
 */
export class TokensController {
  readonly #opts: TokensControllerOptions;
  readonly #queue: RetryQueue<Item>;
  readonly #ctx: OperationContext;

  constructor(opts: TokensControllerOptions) {
    this.#opts = opts;
    this.#ctx = { user: systemUser, dryRun: false, signal: opts.signal, fieldManager: 'kube-controller-manager' };
    this.#queue = new RetryQueue<Item>({
      key: (i) => `${i.kind}/${i.namespace}/${i.name}/${i.uid}`,
      sync: (i) => this.#sync(i),
      signal: opts.signal,
      backoff: { ...TOKENS_BACKOFF, ...opts.backoff },
      maxRetries: MAX_RETRIES,
      onGiveUp: (i, failures) => opts.logger.warn({ item: i, failures }, 'giving up syncing a service account token; its next change tries again'),
    });
  }

  start(): void {
    const { secretCache, accountCache } = this.#opts;
    secretCache.listen((ev) => this.#onSecret(ev));
    accountCache.listen((ev) => {
      if (ev.type === 'deleted') this.#queue.add({ kind: 'account', ...this.#identity(ev.obj) });
    });
    this.#enqueueSecrets();
    this.#queue.start();
  }

  /** resolves once no sync is due or running (for tests) */
  drained(): Promise<void> {
    return this.#queue.drained();
  }

  stopped(): Promise<void> {
    return this.#queue.stopped();
  }

  #identity(obj: KubeObject): { namespace: string; name: string; uid: string } {
    return { namespace: obj.metadata.namespace ?? '', name: obj.metadata.name ?? '', uid: obj.metadata.uid ?? '' };
  }

  #onSecret(ev: CacheEvent<KubeObject>): void {
    if (ev.type === 'resynced') return this.#enqueueSecrets();
    // a deleted one too: its account may still list it
    if (isTokenSecret(ev.obj)) this.#queue.add({ kind: 'secret', ...this.#identity(ev.obj) });
  }

  #enqueueSecrets(): void {
    for (const s of this.#opts.secretCache.list()) if (isTokenSecret(s)) this.#queue.add({ kind: 'secret', ...this.#identity(s) });
  }

  #sync(item: Item): Promise<SyncOutcome> {
    switch (item.kind) {
      case 'secret':
        return this.#syncSecret(item);
      case 'account':
        return this.#syncAccount(item);
    }
  }

  /** the account of that name, if it has that UID (any when uid is ''): cache first, then the store */
  async #account(namespace: string, name: string, uid: string): Promise<KubeObject | undefined> {
    const matches = (sa: KubeObject | undefined): sa is KubeObject => sa !== undefined && (uid === '' || sa.metadata.uid === uid);
    const cached = this.#opts.accountCache.get(namespace, name);
    if (matches(cached)) return cached;
    const { registry, serviceAccounts } = this.#opts;
    const live = (await registry.storeFor(serviceAccounts).tryGet(namespace, name))?.obj;
    return matches(live) ? live : undefined;
  }

  async #syncSecret(item: Extract<Item, { kind: 'secret' }>): Promise<SyncOutcome> {
    const { registry, secrets } = this.#opts;
    const live = (await registry.storeFor(secrets).tryGet(item.namespace, item.name))?.obj;
    if (!live || live.metadata.uid !== item.uid) return this.#dropReference(item);
    if (!isTokenSecret(live) || live.metadata.deletionTimestamp) return 'done';
    const saName = annotation(live, SERVICE_ACCOUNT_NAME_ANNOTATION);
    if (saName === '') return 'done';
    const sa = await this.#account(item.namespace, saName, annotation(live, SERVICE_ACCOUNT_UID_ANNOTATION));
    if (!sa) {
      this.#opts.logger.info({ namespace: item.namespace, secret: item.name, serviceAccount: saName }, 'service account does not exist, deleting its token secret');
      return this.#deleteSecret(item.namespace, item.name, item.uid);
    }
    return this.#fillIn(live, sa);
  }

  /** upstream's secretUpdateNeeded: the CA (when configured) differs, the namespace or token is missing */
  #needs(secret: KubeObject): { ca: boolean; namespace: boolean; token: boolean } {
    const data = dataOf(secret);
    const { rootCa } = this.#opts;
    return {
      ca: rootCa !== undefined && rootCa !== '' && unb64(data[CA_DATA_KEY]) !== rootCa,
      namespace: !data[NAMESPACE_DATA_KEY],
      token: !data[TOKEN_DATA_KEY],
    };
  }

  async #fillIn(live: KubeObject, sa: KubeObject): Promise<SyncOutcome> {
    const needs = this.#needs(live);
    if (!needs.ca && !needs.namespace && !needs.token) return 'done';
    const { registry, secrets, tokens, rootCa } = this.#opts;
    const namespace = live.metadata.namespace ?? '';
    const name = live.metadata.name ?? '';
    const saRef = { name: sa.metadata.name ?? '', uid: sa.metadata.uid ?? '' };
    const data = { ...dataOf(live) };
    if (needs.ca && rootCa) data[CA_DATA_KEY] = b64(rootCa);
    if (needs.namespace) data[NAMESPACE_DATA_KEY] = b64(namespace);
    if (needs.token) data[TOKEN_DATA_KEY] = b64(tokens.issueLegacy({ namespace, serviceAccount: saRef, secretName: name }));
    const body: KubeObject = {
      ...live,
      metadata: {
        ...live.metadata,
        annotations: { ...live.metadata.annotations, [SERVICE_ACCOUNT_NAME_ANNOTATION]: saRef.name, [SERVICE_ACCOUNT_UID_ANNOTATION]: saRef.uid },
      },
      data,
    };
    try {
      // the resourceVersion read is the precondition: a Secret changed since is the next event's to fill
      await registry.update(secrets, namespace, name, body, '', this.#ctx);
      return 'done';
    } catch (err) {
      if (isHedgeError(err, 'Conflict') || isHedgeError(err, 'NotFound')) return 'done';
      this.#opts.logger.warn({ err, namespace, secret: name }, 'could not populate a service account token secret');
      return 'retry';
    }
  }

  async #deleteSecret(namespace: string, name: string, uid: string): Promise<SyncOutcome> {
    try {
      await this.#opts.registry.delete(this.#opts.secrets, namespace, name, { preconditions: { uid } }, this.#ctx);
      return 'done';
    } catch (err) {
      // gone already, or a new Secret of that name (the UID precondition): nothing to do
      if (isHedgeError(err, 'NotFound') || isHedgeError(err, 'Conflict')) return 'done';
      this.#opts.logger.warn({ err, namespace, secret: name }, 'could not delete a service account token secret');
      return 'retry';
    }
  }

  /** upstream's removeSecretReference: a deleted token Secret leaves its account's `secrets` */
  async #dropReference(item: Extract<Item, { kind: 'secret' }>): Promise<SyncOutcome> {
    const listed = (sa: KubeObject): boolean => ((sa.secrets ?? []) as { name?: string }[]).some((r) => r.name === item.name);
    const accounts = this.#opts.accountCache.inNamespace(item.namespace).filter(listed);
    for (const sa of accounts) {
      try {
        await this.#opts.registry.transform(this.#opts.serviceAccounts, item.namespace, sa.metadata.name ?? '', '', this.#ctx, (cur) => ({
          ...cur,
          secrets: ((cur.secrets ?? []) as { name?: string }[]).filter((r) => r.name !== item.name),
        }));
      } catch (err) {
        if (isHedgeError(err, 'NotFound')) continue;
        this.#opts.logger.warn({ err, namespace: item.namespace, serviceAccount: sa.metadata.name }, 'could not remove a deleted token secret from its service account');
        return 'retry';
      }
    }
    return 'done';
  }

  /** upstream's syncServiceAccount: an account gone takes its token Secrets with it */
  async #syncAccount(item: Extract<Item, { kind: 'account' }>): Promise<SyncOutcome> {
    if (await this.#account(item.namespace, item.name, item.uid)) return 'done';
    let outcome: SyncOutcome = 'done';
    for (const s of this.#opts.secretCache.inNamespace(item.namespace)) {
      if (!isTokenOf(s, item)) continue;
      if ((await this.#deleteSecret(item.namespace, s.metadata.name ?? '', s.metadata.uid ?? '')) === 'retry') outcome = 'retry';
    }
    return outcome;
  }
}
