import type { Pod } from 'kubernetes-types/core/v1.js';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer as createPlainServer, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { connect as netConnect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import { builtinResources } from '../api/builtin/index.ts';
import { ResourceRegistry } from '../api/resources/index.ts';
import { isPlainObject, type KubeObject } from '../api/object.ts';
import { createApiServer, parseRequestInfo, relayUpgrade, requestOverStream, statusFromError, writeRawResponse, type ResourceRequestInfo, type RunningApiServer } from '../apiserver/index.ts';
import { writeKubeconfig } from '../apiserver/auth/kubeconfig.ts';
import { systemClock, type Clock } from '../client/clock.ts';
import { HttpKubeClient } from '../client/http-client.ts';
import type { ConnectionConfig } from '../client/kubeconfig.ts';
import { Resources } from '../client/resources.ts';
import { podReferences, type GraphResource } from '../apiserver/auth/node-graph.ts';
import type { KubeClient, ResourceRef } from '../client/types.ts';
import { HedgeError, isHedgeError } from '../lib/errors.ts';
import { HttpAgent, httpRequest, readAll, type HttpMethod, type HttpResponse } from '../lib/http/request.ts';
import type { Logger } from '../lib/log.ts';
import { linkedSignal, timeoutSignal } from '../lib/signals.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { Store } from '../store/types.ts';
import { CloudHealth, HEALTH_INTERVAL_MS, HEALTH_TIMEOUT_MS, linkFirstProbe, readyzProbe, type CloudLink, type HealthProbe } from './cloud-health.ts';
import { HUB_CACHE_KIB, HubDb } from './hub-db.ts';
import { ensureHubPki, HUB_CLIENT_USER } from './hub-pki.ts';
import { localNodeDialer, otherNode, type LocalNodeServer } from './local-node.ts';
import { localWrite, tokenCacheKey } from './local-writes.ts';
import { nodeReflections, reflectionId, Reflector } from './reflector.ts';
import { Replica } from './replica.ts';
import { replayJournal } from './replay.ts';

/** What the hub is doing with the cloud; writes go to the journal in every state but `online`. */
export type HubState = 'offline' | 'replaying' | 'online';

export interface HubOptions {
  nodeName: string;
  /** `<node-data-dir>/hub`: replica, journal, PKI, kubeconfig (0700) */
  dir: string;
  /** how to reach the cloud as the node */
  cloud: ConnectionConfig;
  host?: string;
  /** 0 = any free port */
  port: number;
  logger: Logger;
  clock?: Clock;
  /** default 500 ms */
  healthIntervalMs?: number;
  /** default 1,000 ms */
  healthTimeoutMs?: number;
  /** the node's tunnel to the apiserver while it is up: the cloud's health is then its heartbeat or pings instead of /readyz (cloud-health.ts linkFirstProbe) */
  link?: () => CloudLink | undefined;
  /** test seams: the replica store (default SQLite in `dir`), the health probe, the cloud client */
  store?: Store;
  probe?: HealthProbe;
  cloudClient?: KubeClient;
  /**
   * this node's own kubelet-style server (the agent's, started after the hub): where local
   * `kubectl logs/exec/attach/port-forward` are served, online and offline; undefined while it is not up
   */
  nodeServer?: () => LocalNodeServer | undefined;
  /** how long a read of a never-synced resource waits for the first list while online (default 10 s) */
  firstSyncWaitMs?: number;
}

export interface RunningHub {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** `<dir>/kubeconfig`, 0600, for local clients */
  readonly kubeconfigPath: string;
  /**
   * `<dir>/hub.sock` (0600 in the 0700 dir): the same API in plain HTTP for the agent in this
   * process (root only: the file's access is the credential); undefined if it could not be made
   */
  readonly socketPath: string | undefined;
  state(): HubState;
  /** resolves when the hub reaches `s` */
  waitFor(s: HubState, signal?: AbortSignal): Promise<void>;
  readonly replica: Replica;
  readonly db: HubDb;
  /** counters for tests and the benchmark */
  readonly stats: { replays: number; replayed: number; conflicts: number; offlineSince?: number; lastChangeMs: number };
  close(): Promise<void>;
}

const MAX_BODY = 3 * 1024 * 1024;
const reflectedResources = new Set(['/pods', '/nodes', 'coordination.k8s.io/leases', '/services', '/endpoints', 'discovery.k8s.io/endpointslices', 'node.k8s.io/runtimeclasses', 'networking.k8s.io/networkpolicies', 'networking.k8s.io/ingresses', 'networking.k8s.io/ingressclasses', '/namespaces']);
/** served on the node (local-node.ts) for the node's own pods, online and offline */
const podStreams = new Set(['log', 'exec', 'attach', 'portforward']);
const upgradeStreams = new Set(['exec', 'attach', 'portforward']);
/** what is not passed on to the replica apiserver with an upgrade (the hub's own bearer token is) */
const notUpgraded = new Set(['authorization', 'host', 'proxy-authorization', 'content-length']);
const byNameResources = new Set(['/configmaps', '/secrets', '/serviceaccounts', '/persistentvolumeclaims', '/persistentvolumes', 'k8s.cni.cncf.io/network-attachment-definitions']);
const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host', 'authorization', 'content-length']);

/**
 * The edge hub: a loopback HTTPS endpoint that speaks the Kubernetes API for everything on the
 * node. See README.md in this folder for the design.
 */
export async function startHub(o: HubOptions): Promise<RunningHub> {
  const log = o.logger.child({ component: 'edgehub' });
  const clock = o.clock ?? systemClock;
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  // root only, whoever made it: the PKI and the agent's socket are in it
  await chmod(o.dir, 0o700);
  const pki = await ensureHubPki(o.dir, ['127.0.0.1', 'localhost', '::1']);
  const store = o.store ?? new SqliteStore({ path: join(o.dir, 'replica.db'), logger: log, cacheKiB: HUB_CACHE_KIB, acknowledgeAtCommit: true });
  const db = new HubDb(join(o.dir, 'hub.db'));
  const replica = new Replica({ store, db, logger: log });
  const cloud = o.cloudClient ?? new HttpKubeClient({ ...o.cloud, userAgent: `hedge-edgehub/0.1 (${o.nodeName})`, requestTimeoutMs: 10_000 });
  const cloudAgent = new HttpAgent({ ca: o.cloud.ca, cert: o.cloud.cert, key: o.cloud.key, rejectUnauthorized: !o.cloud.insecureSkipTLSVerify, connectTimeoutMs: o.healthTimeoutMs ?? HEALTH_TIMEOUT_MS });
  const resources = new ResourceRegistry(builtinResources());

  // The apiserver's own read handlers over the replica: what local clients read, online or not.
  const innerToken = randomBytes(32).toString('hex');
  const inner: RunningApiServer = await createApiServer({
    host: '127.0.0.1',
    port: 0,
    store,
    logger: log.child({ part: 'replica-api' }),
    authenticator: { authenticate: (req) => (req.headers.authorization === `Bearer ${innerToken}` ? { username: HUB_CLIENT_USER, groups: ['system:masters'] } : undefined) },
    // the hub is its one caller: nobody else is let in, not even as system:anonymous
    anonymousAuth: false,
    bootstrapNamespaces: false,
    runtimeClasses: [],
    // its one caller is the hub as system:masters (APF's exempt level): no flow control to run or keep in memory
    flowControl: { enablePriorityAndFairness: false, maxRequestsInflight: 0, maxMutatingRequestsInflight: 0 },
    // pods/log|exec|attach|portforward: the apiserver's own handlers, reaching this node's server on loopback
    nodeDialer: localNodeDialer({ nodeName: o.nodeName, server: () => o.nodeServer?.() }),
  });
  const innerPort = Number(new URL(inner.url).port);

  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  let state: HubState = 'offline';
  const stateWaiters = new Set<{ s: HubState; resolve: () => void }>();
  const stats: RunningHub['stats'] = { replays: 0, replayed: 0, conflicts: 0, offlineSince: Date.now(), lastChangeMs: Date.now() };
  const setState = (s: HubState): void => {
    if (s === state) return;
    state = s;
    stats.lastChangeMs = Date.now();
    if (s === 'offline') stats.offlineSince = Date.now();
    for (const w of [...stateWaiters]) if (w.s === s) { stateWaiters.delete(w); w.resolve(); }
  };

  const reflectors = new Map<string, Reflector>();
  for (const spec of nodeReflections(o.nodeName, Resources)) reflectors.set(reflectionId(spec), new Reflector(spec, { cloud, replica, db, clock, logger: log }));
  let reflecting: AbortController | undefined;
  let reconnecting: Promise<void> | undefined;
  /** aborted when the cloud is declared offline: requests stuck on a link that swallows traffic end at once */
  let cloudEpoch = new AbortController();
  setMaxListeners(0, cloudEpoch.signal);
  // `signal` is a request's, aborted when its response closes: that also unhooks the link from the epoch
  const cloudSignal = (signal: AbortSignal): AbortSignal => linkedSignal([signal, cloudEpoch.signal]);

  const readyz = o.probe ?? readyzProbe(o.cloud, o.healthTimeoutMs ?? HEALTH_TIMEOUT_MS);
  const health = new CloudHealth({
    probe: o.link ? linkFirstProbe(o.link, readyz, o.healthTimeoutMs ?? HEALTH_TIMEOUT_MS, o.healthIntervalMs ?? HEALTH_INTERVAL_MS) : readyz,
    intervalMs: o.healthIntervalMs,
    logger: log,
    onChange: (s) => {
      if (s === 'offline') {
        reflecting?.abort();
        reflecting = undefined;
        cloudEpoch.abort(new HedgeError('Unavailable', 'the cloud became unreachable'));
        cloudEpoch = new AbortController();
        setMaxListeners(0, cloudEpoch.signal);
        setState('offline');
        return;
      }
      reconnecting ??= reconnect().finally(() => (reconnecting = undefined));
    },
  });

  /** replay the journal in order (writes meanwhile are journaled behind it), then resume the watches */
  async function reconnect(): Promise<void> {
    setState('replaying');
    while (health.state === 'online' && !stop.signal.aborted) {
      try {
        stats.replays++;
        const r = await replayJournal({ db, cloud, replica, nodeName: o.nodeName, logger: log }, stop.signal);
        stats.replayed += r.applied;
        stats.conflicts += r.conflicts;
        if (r.applied > 0) log.info(r, 'journaled writes replayed');
      } catch (err) {
        log.warn({ err }, 'replay interrupted; retrying');
        await clock.sleep(500, stop.signal).catch(() => undefined);
        continue;
      }
      if (db.pendingCount() > 0) continue;
      if (health.state !== 'online') return;
      setState('online');
      const ac = new AbortController();
      setMaxListeners(0, ac.signal);
      reflecting = ac;
      // unhooked from stop when ac aborts (the cloud going offline again)
      const signal = linkedSignal([ac.signal, stop.signal]);
      for (const r of reflectors.values()) void r.run(signal);
      return;
    }
  }

  /** the request's body (plain listeners, as the apiserver reads one: no promise per chunk on every write's path) */
  function readBody(req: IncomingMessage): Promise<Buffer> {
    return readAll(req, true, { maxBytes: MAX_BODY, error: () => new HedgeError('RequestEntityTooLarge', `Request entity too large: limit is ${MAX_BODY}`) });
  }

  function forwardHeaders(req: IncomingMessage, extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !hopByHop.has(k)) h[k] = Array.isArray(v) ? v.join(', ') : v;
    return { ...h, ...extra };
  }

  /** streams (watch, follow) chunk by chunk; anything else in one write with its length, so no small packets wait on each other */
  async function pipeResponse(up: HttpResponse, res: ServerResponse, stream: boolean): Promise<void> {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !hopByHop.has(k)) headers[k] = v;
    if (!stream) {
      const body = await up.body.bytes();
      res.writeHead(up.statusCode, { ...headers, 'content-length': body.length });
      res.end(body);
      return;
    }
    res.writeHead(up.statusCode, headers);
    res.flushHeaders();
    for await (const chunk of up.body) res.write(chunk as Buffer);
    res.end();
  }

  const isStream = (req: IncomingMessage): boolean => /[?&](watch=(1|true)|follow=(1|true))(&|$)/.test(req.url ?? '');

  /**
   * A request on the replica's apiserver (reads, logs): handed to its request listener in this
   * process, which answers on `res` itself (no loopback HTTP hop, no second parse and re-chunking
   * of each watch event). As the hub's own client: the caller's credentials were the front's
   * business (its client certificate). Resolves when the response closes; the hub stopping cuts it.
   */
  async function toInner(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    if (signal.aborted) {
      res.destroy();
      return;
    }
    req.headers.authorization = `Bearer ${innerToken}`;
    const closed = new Promise<void>((resolve) => res.once('close', resolve));
    const cut = (): void => {
      if (!res.writableEnded) res.destroy();
    };
    signal.addEventListener('abort', cut, { once: true });
    try {
      inner.listener(req, res);
      await closed;
    } finally {
      signal.removeEventListener('abort', cut);
    }
  }

  /** to the cloud as the node; a transport failure marks the cloud offline at once and is rethrown as Unavailable */
  async function toCloud(req: IncomingMessage, body: Buffer | undefined, signal: AbortSignal, headers?: Record<string, string>): Promise<HttpResponse> {
    const h = forwardHeaders(req, headers);
    if (o.cloud.token) h.authorization = `Bearer ${o.cloud.token}`;
    try {
      return await httpRequest(`${o.cloud.server}${req.url ?? '/'}`, {
        method: (req.method ?? 'GET') as HttpMethod,
        headers: h,
        body,
        agent: cloudAgent,
        signal: cloudSignal(signal),
        headersTimeoutMs: 10_000,
      });
    } catch (err) {
      if (!signal.aborted) health.reportFailure();
      throw new HedgeError('Unavailable', `the cloud is unreachable: ${(err as Error).message}`, { cause: err });
    }
  }

  const sendJson = (res: ServerResponse, code: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const sendStatus = (res: ServerResponse, err: unknown): void => {
    const s = statusFromError(err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, s.code ?? 500, s);
  };

  async function waitSynced(id: string, signal: AbortSignal): Promise<boolean> {
    if (db.synced(id)) return true;
    if (state !== 'online' && health.state !== 'online') return false;
    const r = reflectors.get(id);
    if (!r) return false;
    const t = timeoutSignal(signal, o.firstSyncWaitMs ?? 10_000);
    try {
      await Promise.race([r.waitSynced(), new Promise((resolve) => t.addEventListener('abort', resolve, { once: true }))]);
    } finally {
      t.clear();
    }
    return db.synced(id);
  }

  async function referencedByNodePod(resource: GraphResource, namespace: string, name: string): Promise<boolean> {
    // every pod of the node (the replica holds only those): a NetworkAttachmentDefinition may be another namespace's
    const pods = (await replica.list(Resources.pods, resource === 'network-attachment-definitions' ? undefined : namespace)) as Pod[];
    if (pods.some((p) => podReferences(p).some((r) => r.resource === resource && r.name === name && (r.namespace ?? p.metadata?.namespace) === namespace))) return true;
    // and the TLS Secrets the (replicated) Ingresses of its namespace name: the node's ingress controller serves them (node graph's Ingress edges)
    if (resource !== 'secrets') return false;
    const ingresses = (await replica.list(Resources.ingresses, namespace)) as (KubeObject & { spec?: { tls?: { secretName?: string }[] } })[];
    return ingresses.some((i) => (i.spec?.tls ?? []).some((t) => t.secretName === name));
  }

  /** offline, a PV is the node's to read while a claim a pod of the node uses is bound to it (the node authorizer's pod → PVC → PV edges) */
  async function boundToNodeClaim(pvName: string): Promise<boolean> {
    for (const p of (await replica.list(Resources.pods)) as Pod[]) {
      const ns = p.metadata?.namespace ?? '';
      for (const r of podReferences(p)) {
        if (r.resource !== 'persistentvolumeclaims') continue;
        const pvc = (await replica.get(Resources.persistentvolumeclaims, ns, r.name)) as (KubeObject & { spec?: { volumeName?: string } }) | undefined;
        if (pvc?.spec?.volumeName === pvName) return true;
      }
    }
    return false;
  }

  /** a pod bound to this node, which the replica holds; refused with a Status naming why otherwise */
  async function assertNodePod(info: ResourceRequestInfo, signal: AbortSignal): Promise<void> {
    if (!(await waitSynced('/pods', signal))) throw new HedgeError('Unavailable', 'the cloud is unreachable and pods were never synced to this node');
    const pod = (await replica.get(Resources.pods, info.namespace, info.name)) as Pod | undefined;
    if (!pod) {
      throw new HedgeError('NotFound', `pods "${info.name}" not found on node "${o.nodeName}" (the edge hub serves logs, exec, attach and port-forward for this node's pods only)`, {
        details: { kind: 'pods', name: info.name },
      });
    }
    const bound = pod.spec?.nodeName ?? '';
    if (bound !== o.nodeName) throw otherNode(bound || '(none)', o.nodeName, info.name);
  }

  /** exec/attach/port-forward: the upgrade goes to the replica apiserver as the hub's own client, and the connections are spliced */
  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const ac = new AbortController();
    socket.once('close', () => ac.abort());
    socket.on('error', (err) => log.debug({ err }, 'upgrade connection failed'));
    stop.signal.addEventListener('abort', () => socket.destroy(), { once: true, signal: ac.signal });
    const signal = linkedSignal([ac.signal, stop.signal]);
    try {
      const url = new URL(req.url ?? '/', 'https://hub');
      const info = parseRequestInfo(req.method ?? 'GET', url.pathname, url.searchParams);
      if (!info.isResourceRequest || info.group !== '' || info.resource !== 'pods' || !upgradeStreams.has(info.subresource)) {
        throw new HedgeError('BadRequest', 'the edge hub upgrades only pods/exec, pods/attach and pods/portforward');
      }
      await assertNodePod(info, signal);
      const headers: OutgoingHttpHeaders = { authorization: `Bearer ${innerToken}` };
      for (const [k, v] of Object.entries(req.headers as IncomingHttpHeaders)) if (v !== undefined && !notUpgraded.has(k)) headers[k] = v;
      const resp = await requestOverStream({ nodeName: o.nodeName, method: req.method ?? 'GET', path: req.url ?? '/', headers, signal }, netConnect(innerPort, '127.0.0.1'), 'at the hub');
      await relayUpgrade(socket, head, resp);
    } catch (err) {
      if (signal.aborted) {
        socket.destroy();
        return;
      }
      if (!isHedgeError(err)) log.warn({ err, url: req.url }, 'hub upgrade failed');
      const s = statusFromError(isHedgeError(err) ? err : new HedgeError('Unavailable', `edgehub: ${(err as Error).message}`));
      writeRawResponse(socket, s.code ?? 500, 'application/json', JSON.stringify(s));
      ac.abort();
    }
  }

  async function handleResource(req: IncomingMessage, res: ServerResponse, info: ResourceRequestInfo, signal: AbortSignal): Promise<void> {
    const id = `${info.group}/${info.resource}`;
    const def = resources.lookup(info.group, info.version, info.resource);
    const ref: ResourceRef | undefined = def ? { group: def.group, version: def.version, plural: def.plural, kind: def.kind, namespaced: def.namespaced } : undefined;
    const isRead = info.verb === 'get' || info.verb === 'list' || info.verb === 'watch';
    // logs and streams into containers: the node's own pods, served here by the replica apiserver
    // calling this node's server, online or not (never as the node through the cloud)
    if (id === '/pods' && podStreams.has(info.subresource)) {
      await assertNodePod(info, signal);
      return toInner(req, res, signal);
    }
    // reads of what the hub replicates: always from the replica, online or not, so the
    // resourceVersions a local client sees all come from one sequence
    if (isRead && reflectedResources.has(id) && (info.subresource === '' || info.subresource === 'status')) {
      if (!(await waitSynced(id, signal))) throw new HedgeError('Unavailable', `the cloud is unreachable and ${info.resource} were never synced to this node`);
      return toInner(req, res, signal);
    }
    if (info.verb === 'get' && byNameResources.has(id) && info.subresource === '' && ref) {
      if (state !== 'offline') {
        const epoch = cloudEpoch.signal;
        try {
          const obj = await cloud.get(ref, info.name, { namespace: info.namespace || undefined, signal: cloudSignal(signal) });
          // the cloud's answer stands even if the replica cannot keep a copy (disk full)
          sendJson(res, 200, await replica.putFromCloud(ref, obj).catch(() => obj));
          return;
        } catch (err) {
          // gone, or no longer the node's to read (its last pod referencing it went): the copy goes too
          if (isHedgeError(err, 'NotFound') || isHedgeError(err, 'Forbidden') || isHedgeError(err, 'Unauthorized')) {
            await replica.removeFromCloud(ref, info.namespace, info.name);
            throw err;
          }
          // the link went away under the request (declared offline meanwhile): the cache answers
          if (signal.aborted || (!isHedgeError(err, 'Unavailable') && !isHedgeError(err, 'Timeout') && !epoch.aborted)) throw err;
          health.reportFailure();
        }
      }
      const cached = await replica.get(ref, info.namespace, info.name);
      if (!cached) throw new HedgeError('Unavailable', `the cloud is unreachable and ${info.resource} "${info.name}" is not cached on this node`);
      // offline the hub answers for the cloud's node authorizer: a copy is served only while a pod
      // of this node (the replica holds only those) still references it
      const used = id === '/persistentvolumes' ? await boundToNodeClaim(info.name) : await referencedByNodePod(info.resource as GraphResource, info.namespace, info.name);
      if (!used) {
        throw new HedgeError('Forbidden', `${info.resource} "${info.name}" is not referenced by any pod on node ${o.nodeName}; it is not served offline`);
      }
      sendJson(res, 200, cached);
      return;
    }
    const writesCached = ref && !isRead && (reflectedResources.has(id) || id === '/events' || (id === '/serviceaccounts' && info.subresource === 'token'));
    if (!writesCached) {
      // anything else: the cloud's business, passed through; nothing pretends to work offline
      if (state === 'offline') throw new HedgeError('Unavailable', `the cloud is unreachable; ${info.verb} ${info.resource} is not served offline`);
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readBody(req);
      return pipeResponse(await toCloud(req, body, signal), res, isStream(req));
    }
    const body = await readBody(req);
    const contentType = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim();
    let parsed: unknown;
    try {
      parsed = body.length ? JSON.parse(body.toString('utf8')) : undefined;
    } catch {
      throw new HedgeError('BadRequest', 'the request body is not JSON (the hub accepts JSON only)');
    }
    // an Event named here, not by the cloud: if the answer is lost and the write is journaled, the
    // replay finds it AlreadyExists instead of creating it twice
    let named = false;
    if (id === '/events' && info.verb === 'create' && isPlainObject(parsed) && isPlainObject(parsed.metadata) && !parsed.metadata.name) {
      named = true;
      parsed = { ...parsed, metadata: { ...parsed.metadata, name: `${typeof parsed.metadata.generateName === 'string' ? parsed.metadata.generateName : 'event.'}${randomBytes(5).toString('hex')}`, generateName: undefined } };
    }
    if (state === 'online') {
      let sendBody = named ? Buffer.from(JSON.stringify(parsed)) : body;
      // a local client's resourceVersion is the replica's: translate it to the cloud's
      if (info.verb === 'update' && reflectedResources.has(id) && isPlainObject(parsed) && isPlainObject(parsed.metadata) && typeof parsed.metadata.resourceVersion === 'string' && parsed.metadata.resourceVersion !== '') {
        const key = replica.key(ref, info.namespace, info.name);
        const cloudRv = replica.cloudRvFor(key, Number(parsed.metadata.resourceVersion));
        if (cloudRv === undefined) {
          throw new HedgeError('Conflict', `Operation cannot be fulfilled on ${info.resource} "${info.name}": the object has been modified; please apply your changes to the latest version and try again`, { details: { kind: info.resource, name: info.name } });
        }
        sendBody = Buffer.from(JSON.stringify({ ...parsed, metadata: { ...parsed.metadata, resourceVersion: cloudRv } }));
      }
      let up: HttpResponse | undefined;
      try {
        up = await toCloud(req, sendBody, signal);
      } catch (err) {
        if (!isHedgeError(err, 'Unavailable')) throw err;
      }
      if (up) {
        const text = await up.body.text();
        let answer: unknown;
        try {
          answer = JSON.parse(text);
        } catch {
          answer = undefined;
        }
        if (up.statusCode >= 200 && up.statusCode < 300 && isPlainObject(answer) && isPlainObject(answer.metadata)) {
          if (id === '/serviceaccounts') {
            const exp = isPlainObject(answer.status) ? Date.parse(String(answer.status.expirationTimestamp ?? '')) : NaN;
            // on disk in the background: the answer does not wait for the copy kept for offline use
            if (Number.isFinite(exp)) db.setToken(tokenCacheKey(info, parsed), text, exp).catch((err: unknown) => log.warn({ err }, 'token answer not kept for offline use'));
          } else if (reflectedResources.has(id) && answer.kind !== 'Status') {
            const accepted = answer as KubeObject;
            // the cloud accepted the write: that is the answer even if the replica cannot record
            // it now (disk full); its reflector relists when the store takes writes again
            answer = await replica.putFromCloud(ref, accepted).catch((err: unknown) => {
              log.warn({ err, url: req.url }, 'cloud write accepted but not stored in the replica');
              return accepted;
            });
          }
          sendJson(res, up.statusCode, answer);
          return;
        }
        res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') });
        res.end(text);
        return;
      }
    }
    const out = await localWrite({ nodeName: o.nodeName, replica, db, now: () => clock.now() }, { info, res: ref, body: parsed, contentType });
    sendJson(res, out.code, out.body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ac = new AbortController();
    // the response always closes, and aborting ac then also unhooks the link from stop
    res.on('close', () => ac.abort());
    const signal = linkedSignal([ac.signal, stop.signal]);
    try {
      const url = new URL(req.url ?? '/', 'https://hub');
      const info = parseRequestInfo(req.method ?? 'GET', url.pathname, url.searchParams);
      if (!info.isResourceRequest) return await toInner(req, res, signal);
      await handleResource(req, res, info, signal);
    } catch (err) {
      if (signal.aborted && res.writableEnded) return;
      // the client went away (or the hub is stopping): nothing to answer, nothing to warn about
      if (signal.aborted) {
        log.debug({ url: req.url }, 'hub request ended by its client');
        if (!res.headersSent) res.destroy();
        return;
      }
      if (!isHedgeError(err)) log.warn({ err, url: req.url }, 'hub request failed');
      sendStatus(res, isHedgeError(err) ? err : new HedgeError('Unavailable', `edgehub: ${(err as Error).message}`));
    }
  }

  // TLS with a client certificate from the hub CA only: loopback alone is not an identity
  const server: Server = createServer({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    void handle(req, res);
  });
  // a local client's connections outlive its quiet spells (an agent's Lease renewal every 10 s, one
  // on this port without the socket): Node's 5 s default closed them between renewals, each
  // renewal then paying a TLS handshake on both sides
  server.keepAliveTimeout = 65_000;
  // small JSON answers must not wait for the client's delayed ACK (Nagle)
  server.on('secureConnection', (socket: import('node:tls').TLSSocket) => socket.setNoDelay(true));
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void handleUpgrade(req, socket, head));
  // The same API in plain HTTP on a unix socket, for the agent in this process: a request of its
  // own costs no TLS connection (each ~tens of KiB on both sides in this one process; 20 pods
  // starting kept ~34 of them idle) and a new connection costs a connect(2), not a handshake, so
  // connections are not kept long (the agent closes its own idle ones after 2 s). The socket is
  // a file in the hub's 0700 dir, mode 0600: only root reaches it, and what root gets is what a
  // hub client certificate gets (the front has one identity for every caller: root's, the node's
  // own). Pods never see it: the data dir is in no pod's mount namespace.
  const localServer = createPlainServer((req, res) => {
    void handle(req, res);
  });
  localServer.keepAliveTimeout = 5_000;
  localServer.on('clientError', (_err, socket) => socket.destroy());
  localServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void handleUpgrade(req, socket, head));
  async function listenLocal(path: string): Promise<string | undefined> {
    try {
      await rm(path, { force: true });
      await new Promise<void>((resolve, reject) => {
        localServer.once('error', reject);
        localServer.listen(path, () => {
          localServer.off('error', reject);
          resolve();
        });
      });
      await chmod(path, 0o600);
      return path;
    } catch (err) {
      // a data dir whose path is too long for a socket (108 bytes): the agent uses the HTTPS endpoint
      log.warn({ err, path }, 'edgehub local socket not served; the agent uses its HTTPS endpoint');
      localServer.close();
      return undefined;
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  // a wildcard listen is reached (and certified) on loopback: 0.0.0.0 is in no certificate
  const local = addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address === '::' ? '::1' : addr.address;
  const url = `https://${addr.family === 'IPv6' ? `[${local}]` : local}:${addr.port}`;
  const socketPath = await listenLocal(join(o.dir, 'hub.sock'));
  const kubeconfigPath = join(o.dir, 'kubeconfig');
  await writeKubeconfig(kubeconfigPath, { server: url, caCert: pki.ca.cert, credentials: { clientCert: pki.client.cert, clientKey: pki.client.key }, name: 'edgehub', user: HUB_CLIENT_USER });
  health.start();
  log.info({ url, kubeconfig: kubeconfigPath, socket: socketPath }, 'edgehub listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    kubeconfigPath,
    socketPath,
    replica,
    db,
    stats,
    state: () => state,
    waitFor(s, signal) {
      if (state === s) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = { s, resolve };
        stateWaiters.add(w);
        signal?.addEventListener('abort', () => { stateWaiters.delete(w); reject(signal.reason as Error); }, { once: true });
      });
    },
    close() {
      closing ??= (async () => {
        stop.abort();
        reflecting?.abort();
        await health.stop();
        server.closeAllConnections();
        localServer.closeAllConnections();
        await Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), new Promise<void>((resolve) => localServer.close(() => resolve()))]);
        if (socketPath) await rm(socketPath, { force: true });
        await reconnecting;
        await replica.idle();
        await inner.close();
        await cloudAgent.close();
        if (!o.cloudClient && cloud instanceof HttpKubeClient) await cloud.close();
        await store.close();
        db.close();
      })();
      return closing;
    },
  };
}

