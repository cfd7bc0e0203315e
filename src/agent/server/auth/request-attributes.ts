/**
 * What a request to this node's server is, in authorization.k8s.io ResourceAttributes: the
 * kubelet's `nodeAuthorizerAttributesGetter` (pkg/kubelet/server/auth.go). Every path is the
 * Node itself (resource `nodes`, name = this node); the subresource splits the API by what it
 * discloses or does, so a metrics scraper can be granted `nodes/stats` or `nodes/metrics` without
 * `nodes/proxy`, which holds everything else, exec included.
 */

export type NodeSubresource = 'proxy' | 'stats' | 'metrics' | 'log' | 'spec' | 'checkpoint';

export interface NodeRequestAttributes {
  /** the API verb; '' for a method that has none (HEAD, OPTIONS), which no rule grants */
  verb: string;
  resource: 'nodes';
  subresource: NodeSubresource;
  /** this node */
  name: string;
  /** the request path (logs only: never part of a decision) */
  path: string;
}

const METHOD_VERBS: Readonly<Record<string, string>> = { GET: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** path prefixes with a subresource of their own; everything else is `proxy` */
const SUBRESOURCES: readonly (readonly [string, NodeSubresource])[] = [
  ['/stats', 'stats'],
  ['/metrics', 'metrics'],
  // `log` to match the other log subresources (pods/log)
  ['/logs', 'log'],
  ['/spec', 'spec'],
  ['/checkpoint', 'checkpoint'],
];

/**
 * Streams into a pod: `create` whatever the method. A WebSocket upgrade is a GET, and `get` on
 * nodes/proxy is what a read-only scraper holds: authorized as `get`, it could exec in every
 * container of the node (kube-apiserver authorizes pods/exec the same way since 1.35,
 * AuthorizePodWebsocketUpgradeCreatePermission). `/podconnect` (hedge's raw TCP stream to a pod)
 * is one of them. Upstream's spellings of port-forward and run are listed too.
 */
const STREAMS = ['/exec', '/attach', '/portforward', '/portForward', '/run', '/podconnect'];

/** `path` is `prefix` or below it (`/stats` and `/stats/summary`, not `/statsfoo`) */
export function isSubpath(path: string, prefix: string): boolean {
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || (path.startsWith(p) && path[p.length] === '/');
}

/**
 * The attributes of `method path` on node `nodeName`. `path` is the URL's normalized pathname
 * (WHATWG URL resolves `..` and `%2e%2e`), the same string the server routes by, so a path cannot
 * be authorized as one subresource and served as another.
 */
export function nodeRequestAttributes(nodeName: string, method: string, path: string): NodeRequestAttributes {
  const stream = STREAMS.some((p) => isSubpath(path, p));
  const verb = stream ? 'create' : (METHOD_VERBS[method] ?? '');
  const subresource = SUBRESOURCES.find(([prefix]) => isSubpath(path, prefix))?.[1] ?? 'proxy';
  return { verb, resource: 'nodes', subresource, name: nodeName, path };
}
