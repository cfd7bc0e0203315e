import type { ServiceAccountTokenProjection } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../../api/object.ts';
import type { ResourceRef } from '../../client/types.ts';
import type { VolumeContext } from './types.ts';

interface TokenRequest extends KubeObject {
  spec: { audiences?: string[]; expirationSeconds?: number; boundObjectRef?: { kind: string; apiVersion: string; name: string; uid: string } };
  status?: { token?: string; expirationTimestamp?: string };
}

/**
 * TokenRequest (`serviceaccounts/<sa>/token`) bound to the pod. Returns undefined when the
 * apiserver cannot issue one, so the caller skips the file and warns instead of failing the pod.
 */
export async function requestServiceAccountToken(ctx: VolumeContext, src: ServiceAccountTokenProjection): Promise<string | undefined> {
  const pod = ctx.pod;
  const sa = pod.spec?.serviceAccountName || 'default';
  const ns = pod.metadata?.namespace ?? 'default';
  const expirationSeconds = src.expirationSeconds ?? 3600;
  const key = `${sa}|${src.audience ?? ''}|${expirationSeconds}`;
  const now = ctx.clock.now();
  const cached = ctx.tokens?.get(key);
  if (cached && now < cached.renewAt) return cached.token;
  const ref: ResourceRef = { group: '', version: 'v1', plural: `serviceaccounts/${encodeURIComponent(sa)}/token`, namespaced: true, kind: 'TokenRequest' };
  const req: TokenRequest = {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    metadata: { name: sa, namespace: ns },
    spec: {
      ...(src.audience ? { audiences: [src.audience] } : {}),
      expirationSeconds,
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '' },
    },
  };
  try {
    const res = await ctx.client.create<TokenRequest>(ref, req, { signal: ctx.signal });
    const token = res.status?.token;
    if (!token) throw new Error('the apiserver returned no token (TokenRequest unsupported?)');
    const expiresAt = Date.parse(res.status?.expirationTimestamp ?? '') || now + expirationSeconds * 1000;
    ctx.tokens?.set(key, { token, expiresAt, renewAt: now + 0.8 * (expiresAt - now) });
    return token;
  } catch (err) {
    // the cloud may be unreachable (edge autonomy): a still-valid token stays in the volume
    if (cached && now < cached.expiresAt) {
      ctx.logger.warn({ err, serviceAccount: sa }, 'token renewal failed; keeping the current token until it expires');
      return cached.token;
    }
    ctx.logger.warn({ err, serviceAccount: sa }, 'TokenRequest failed; skipping projected token');
    ctx.warn?.('FailedMount', `serviceAccountToken for "${sa}" skipped: ${(err as Error).message}`);
    return undefined;
  }
}
