import { HedgeError } from '../../lib/errors.ts';
import type { ImageRef } from './types.ts';

// grammar from distribution/reference (regexp.go), lower-case path components
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

export const DOCKER_HUB = 'docker.io';

const bad = (ref: string, why: string): HedgeError => new HedgeError('Invalid', `invalid reference format "${ref}": ${why}`);

/**
 * Parses an image reference the way docker/distribution normalizes it: a first component with
 * a dot, a colon or equal to "localhost" is a registry, otherwise docker.io; single-name Hub
 * images get "library/"; no tag and no digest means ":latest".
 */
export function parseReference(original: string): ImageRef {
  const ref = original.trim();
  if (ref === '' || ref.length > 4096) throw bad(original, 'empty or too long');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(original, `invalid digest "${digest}"`);
    if (digest.startsWith('sha256:') && !/^sha256:[a-f0-9]{64}$/.test(digest)) throw bad(original, `invalid sha256 digest "${digest}"`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(original, `invalid tag "${tag}"`);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      registry = first;
      repository = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN.test(registry)) throw bad(original, `invalid registry "${registry}"`);
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  for (const c of repository.split('/')) {
    if (!PATH_COMPONENT.test(c)) throw bad(original, repository !== repository.toLowerCase() ? 'repository name must be lowercase' : `invalid path component "${c}"`);
  }
  if (registry.length + repository.length + 1 > 255) throw bad(original, 'repository name must not be more than 255 characters');
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { original, registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** canonical string: registry/repository[:tag][@digest] */
export function formatReference(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** the host to contact: Hub's API lives on registry-1.docker.io */
export function registryHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}

/** plain HTTP only for loopback registries or those configured insecure */
export function registryScheme(registry: string, insecure: readonly string[]): 'http' | 'https' {
  const host = registry.replace(/:\d+$/, '');
  if (host === 'localhost' || host === '127.0.0.1' || host === '[::1]' || /^127\./.test(host)) return 'http';
  return insecure.includes(registry) || insecure.includes(host) ? 'http' : 'https';
}
