import type { HttpMethod } from '../../lib/http/request.ts';

/**
 * How the reclaimer asks a node to delete a local-path volume's directory. Resolves once the
 * node says the directory is gone (or never existed); throws otherwise (the node is offline,
 * answers 409 because a pod there still uses it, or 503): the reclaimer retries with back-off.
 */
export interface LocalPathVolumeDeleter {
  deleteVolume(opts: { node: string; volumeHandle: string; signal: AbortSignal }): Promise<void>;
}

/** what the deleter needs of an API client: a raw request (HttpKubeClient.request) */
export interface RawApiRequester {
  request(method: HttpMethod, path: string, opts: { signal?: AbortSignal }): Promise<unknown>;
}

/**
 * `DELETE /api/v1/nodes/{node}/proxy/volumes/local-path/{volumeHandle}`: through the apiserver's
 * node proxy (and so the node's tunnel), the node agent's endpoint for removing the directory.
 */
export function nodeProxyDeleter(api: RawApiRequester): LocalPathVolumeDeleter {
  return {
    async deleteVolume({ node, volumeHandle, signal }) {
      await api.request('DELETE', `/api/v1/nodes/${encodeURIComponent(node)}/proxy/volumes/local-path/${encodeURIComponent(volumeHandle)}`, { signal });
    },
  };
}
