import { failureMessage } from '../../api/meta/status.ts';
import type { KubeObject } from '../../api/object.ts';
import { HedgeError, badRequest, notFound } from '../../lib/errors.ts';
import type { Registry } from '../registry/registry.ts';

interface PodSpecView {
  nodeName?: string;
  containers?: { name?: string }[];
  initContainers?: { name?: string }[];
  ephemeralContainers?: { name?: string }[];
}

const names = (list: { name?: string }[] | undefined): string[] => (list ?? []).map((c) => c.name ?? '');

/** The container a log/exec request means, with upstream's wording when it cannot tell (pod strategy validateContainer). */
export function pickContainer(pod: KubeObject, requested: string): string {
  const spec = (pod.spec ?? {}) as PodSpecView;
  const podName = pod.metadata.name ?? '';
  const containers = names(spec.containers);
  const init = names(spec.initContainers);
  const ephemeral = names(spec.ephemeralContainers);
  if (requested === '') {
    if (containers.length === 1) return containers[0];
    if (containers.length === 0) throw badRequest(`pod ${podName} does not have a host assigned`);
    let msg = `a container name must be specified for pod ${podName}, choose one of: [${containers.join(' ')}]`;
    if (init.length > 0) msg += ` or one of the init containers: [${init.join(' ')}]`;
    if (ephemeral.length > 0) msg += ` or one of the ephemeral containers: [${ephemeral.join(' ')}]`;
    throw badRequest(msg);
  }
  if (![...containers, ...init, ...ephemeral].includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${podName}`);
  return requested;
}

export interface PodTarget {
  pod: KubeObject;
  container: string;
  nodeName: string;
  node: KubeObject;
}

/** Pod, container and Node behind /pods/{name}/log|exec|attach. */
export async function resolvePodTarget(registry: Registry, namespace: string, name: string, container: string): Promise<PodTarget> {
  const podDef = registry.defFor('', 'pods');
  const nodeDef = registry.defFor('', 'nodes');
  if (!podDef || !nodeDef) throw new HedgeError('NotFound', 'the server could not find the requested resource');
  const pod = (await registry.storeFor(podDef).get(namespace, name)).obj;
  const picked = pickContainer(pod, container);
  const nodeName = ((pod.spec ?? {}) as PodSpecView).nodeName ?? '';
  if (nodeName === '') throw badRequest(`pod ${name} does not have a host assigned`);
  const node = (await registry.storeFor(nodeDef).tryGet('', nodeName))?.obj;
  if (!node) throw notFound('nodes', nodeName);
  return { pod, container: picked, nodeName, node };
}

/** Turn a node's non-2xx answer into the Status the client sees, keeping its code (upstream GenericHttpResponseChecker). */
export function nodeResponseError(statusCode: number, body: string, podName: string): HedgeError {
  // the node server answers failures as Status objects (older nodes: plain text)
  const msg = failureMessage(body) || `the node answered ${statusCode}`;
  const details = { kind: 'pods', name: podName };
  switch (statusCode) {
    case 400:
      return new HedgeError('BadRequest', msg, { details });
    case 401:
    case 403:
      return new HedgeError('Forbidden', msg, { details });
    case 404:
      return new HedgeError('NotFound', msg, { details });
    case 503:
      return new HedgeError('Unavailable', msg, { details });
    default:
      return new HedgeError('Internal', msg, { details });
  }
}
