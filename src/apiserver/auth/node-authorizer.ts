import type { UserInfo } from './types.ts';
import type { AuthorizationAttributes, AuthorizationDecision, Authorizer } from './authorizer.ts';
import { MASTERS_GROUP, NODE_LEASE_NAMESPACE, nodeNameOf } from './node-identity.ts';

const readVerbs = new Set(['get', 'list', 'watch']);
const writeVerbs = new Set(['create', 'update', 'patch']);

/** `<group>/<resource>` a node may get, list and watch. */
const nodeReadable = new Set([
  '/pods',
  '/nodes',
  '/services',
  '/endpoints',
  // cluster DNS and the service proxy on the node read them (upstream: system:node-proxier)
  'discovery.k8s.io/endpointslices',
  // the node enforces NetworkPolicy (agent/network/policy): policies and namespace labels
  'networking.k8s.io/networkpolicies',
  // the node's ingress controller (agent/network/ingress) routes by them
  'networking.k8s.io/ingresses',
  'networking.k8s.io/ingressclasses',
  '/namespaces',
  '/events',
  'node.k8s.io/runtimeclasses',
  'coordination.k8s.io/leases',
]);
/**
 * Upstream's node authorizer lets a node `get` only the configmaps, secrets, PVCs and service
 * accounts referenced by pods bound to it, and the PVs those PVCs are bound to (a graph of pod →
 * object edges, auth/node-graph.ts); hedge adds the TLS Secrets Ingresses name (every node runs
 * an ingress controller).
 * Without a graph (the RBAC-less default authorizer) a node may `get` any of them by name; it
 * may never list or watch them.
 */
const nodeGettable = new Set(['/configmaps', '/secrets', '/serviceaccounts', '/persistentvolumeclaims', '/persistentvolumes', 'k8s.cni.cncf.io/network-attachment-definitions']);

/** Whether a pod bound to `node` references the object (the node authorizer's graph). */
export interface NodeReferences {
  allows(node: string, resource: string, namespace: string, name: string): boolean;
}
const nonResourceReadable = /^\/(api|apis|openapi|version|healthz|livez|readyz)(\/|$)/;
/** system:public-info-viewer's paths: all that anonymous may read (upstream binds system:discovery to authenticated users only) */
const publicInfo = new Set(['/healthz', '/livez', '/readyz', '/version', '/version/']);

const allow: AuthorizationDecision = { allowed: true };
const deny = (reason = ''): AuthorizationDecision => ({ allowed: false, reason });

/** What a node identity may do; ownership (its own Node, its own pods) is checked by NodeRestriction admission. */
export function authorizeNode(node: string, attrs: AuthorizationAttributes, graph?: NodeReferences): AuthorizationDecision {
  if (!attrs.isResourceRequest) return (attrs.verb === 'get' || attrs.verb === 'head') && nonResourceReadable.test(attrs.path) ? allow : deny();
  const key = `${attrs.group}/${attrs.resource}`;
  const sub = attrs.subresource;
  const verb = attrs.verb;
  if (sub === '' && readVerbs.has(verb) && nodeReadable.has(key)) return allow;
  if (sub === '' && verb === 'get' && nodeGettable.has(key)) {
    if (!graph) return key === '/persistentvolumeclaims' || key === '/persistentvolumes' ? deny() : allow;
    if (graph.allows(node, attrs.resource, attrs.namespace, attrs.name)) return allow;
    return deny(`no relationship found between node '${node}' and this object`);
  }
  switch (key) {
    case '/nodes':
      if ((sub === '' && (writeVerbs.has(verb) || verb === 'delete')) || (sub === 'status' && (verb === 'update' || verb === 'patch' || verb === 'get'))) return allow;
      break;
    case '/pods':
      // create: mirror pods of its static pods (NodeRestriction admits only those); upstream system:node
      if (sub === '' && (verb === 'create' || verb === 'delete')) return allow;
      if (sub === 'status' && (verb === 'update' || verb === 'patch' || verb === 'get')) return allow;
      break;
    case 'networking.k8s.io/ingresses':
      // status.loadBalancer of the Ingresses it serves (upstream: an ingress controller's RBAC)
      if (sub === 'status' && (verb === 'update' || verb === 'patch' || verb === 'get')) return allow;
      break;
    case 'coordination.k8s.io/leases':
      if (sub === '' && attrs.namespace === NODE_LEASE_NAMESPACE && (writeVerbs.has(verb) || verb === 'delete')) return allow;
      break;
    case '/events':
    case 'events.k8s.io/events':
      if (sub === '' && writeVerbs.has(verb)) return allow;
      break;
    case '/serviceaccounts':
      // the token is bound to a pod on this node (checked by the TokenRequest handler); with a
      // graph the account must also be one a pod on this node runs as
      if (sub === 'token' && verb === 'create') {
        if (!graph || graph.allows(node, 'serviceaccounts', attrs.namespace, attrs.name)) return allow;
        return deny(`no relationship found between node '${node}' and this object`);
      }
      break;
    case 'tunnel.hedge.io/nodes':
      // its own tunnel only (node-proxy/tunnel-endpoint.ts checks the identity again)
      if (sub === 'connect' && verb === 'get' && attrs.name === node) return allow;
      break;
    // the self reviews, and the reviews the node's own server asks about who calls it, with the
    // node's credentials (upstream's system:node rules: "needed to check API access", non-mutating)
    case 'authorization.k8s.io/selfsubjectaccessreviews':
    case 'authorization.k8s.io/selfsubjectrulesreviews':
    case 'authentication.k8s.io/selfsubjectreviews':
    case 'authentication.k8s.io/tokenreviews':
    case 'authorization.k8s.io/subjectaccessreviews':
    case 'authorization.k8s.io/localsubjectaccessreviews':
      if (sub === '' && verb === 'create') return allow;
      break;
  }
  return deny(`node "${node}" cannot ${verb} ${sub ? `${attrs.resource}/${sub}` : attrs.resource}`);
}

/** Self-subject reviews: every authenticated user may ask what it is and what it may do. */
const selfReviews = new Set([
  'authorization.k8s.io/selfsubjectaccessreviews',
  'authorization.k8s.io/selfsubjectrulesreviews',
  'authentication.k8s.io/selfsubjectreviews',
]);

/**
 * What any authenticated user holds without a grant: discovery, OpenAPI, `/version`, health and
 * the self-subject reviews (upstream's `system:discovery`, `system:public-info-viewer` and
 * `system:basic-user` ClusterRoles).
 */
export function authorizeBasicUser(attrs: AuthorizationAttributes): AuthorizationDecision {
  if (!attrs.isResourceRequest) return (attrs.verb === 'get' || attrs.verb === 'head') && nonResourceReadable.test(attrs.path) ? allow : deny();
  if (attrs.subresource === '' && attrs.verb === 'create' && selfReviews.has(`${attrs.group}/${attrs.resource}`)) return allow;
  return deny();
}

/**
 * The default authorizer: system:masters may do anything, node identities get the node rules,
 * every other authenticated user (service accounts, bootstrap tokens, other certificates)
 * gets only what `authorizeBasicUser` grants — default-deny until RBAC grants more — and the
 * anonymous user only system:public-info-viewer's paths.
 */
export function defaultAuthorizer(): Authorizer {
  return {
    authorize(user: UserInfo, attrs: AuthorizationAttributes): AuthorizationDecision {
      if (user.groups.includes(MASTERS_GROUP)) return allow;
      if (user.groups.includes('system:unauthenticated')) return !attrs.isResourceRequest && (attrs.verb === 'get' || attrs.verb === 'head') && publicInfo.has(attrs.path) ? allow : deny();
      const node = nodeNameOf(user);
      if (node !== undefined) return authorizeNode(node, attrs);
      return authorizeBasicUser(attrs);
    },
  };
}
