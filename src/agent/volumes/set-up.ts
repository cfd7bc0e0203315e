import type { ConfigMap, Pod, Secret, Volume, VolumeProjection } from 'kubernetes-types/core/v1.js';
import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { Quantity } from '../../api/meta/quantity.ts';
import { Resources } from '../../client/resources.ts';
import { HedgeError, isHedgeError } from '../../lib/errors.ts';
import { sideBySide } from '../../lib/side-by-side.ts';
import { writeAtomic } from './atomic-writer.ts';
import { downwardFiles } from './downward-api.ts';
import { checkHostPath } from './host-path.ts';
import { configMapData, projectKeys, secretData } from './key-projection.ts';
import { volumeDir } from './paths.ts';
import { setUpPersistentVolumeClaim } from './persistent-volume.ts';
import { requestServiceAccountToken } from './service-account-token.ts';
import type { PreparedVolume, ProjectedFile, VolumeContext } from './types.ts';

/**
 * Makes every volume of the pod ready on the host (idempotent: configMap/secret/downwardAPI
 * content is refreshed through the atomic writer on every call). Throws HedgeError naming the
 * missing object, e.g. `configmap "x" not found`, for the caller to surface on the pod.
 * The volumes (and a projected volume's sources) are set up side by side: each is API reads and
 * small file writes, and a pod's first container waits for all of them (one after another, the
 * default token volume alone was a TokenRequest, then a configMap GET, then its files). Every one
 * has settled when this returns or throws; the first failure in the pod's order is thrown.
 */
export async function setUpPodVolumes(ctx: VolumeContext): Promise<Map<string, PreparedVolume>> {
  const volumes = ctx.pod.spec?.volumes ?? [];
  const prepared = await sideBySide<PreparedVolume[]>(volumes.map((v) => ({ run: () => setUpVolume(ctx, v) })));
  return new Map(volumes.map((v, i) => [v.name, prepared[i]!]));
}

/** the directory (volumes/<plugin>) of a volume whose files the atomic writer puts in place */
const contentPlugin = (v: Volume): string | undefined =>
  v.configMap ? 'configmap' : v.secret ? 'secret' : v.downwardAPI ? 'downward-api' : v.projected ? 'projected' : undefined;

/** whether every volume of the pod is one `volumeDirsAhead` makes (a container's create then needs only the directories) */
export const volumeDirsSuffice = (pod: Pod): boolean =>
  (pod.spec?.volumes ?? []).every((v) => (v.emptyDir ? v.emptyDir.medium !== 'Memory' : contentPlugin(v) !== undefined));

/**
 * The pod's volumes as a container's create needs them, their directories made now (empty), when
 * what goes in them may come later: every volume a configMap, secret, downwardAPI or projected one
 * (a directory the atomic writer fills; the container's bind mount of it shows files written after
 * create) or a disk emptyDir (a directory). Undefined when any volume is of another kind (a claim
 * that may not be bound, a hostPath to check, a tmpfs to mount): those are set up before create.
 */
export function volumeDirsAhead(dataDir: string, pod: Pod): Map<string, PreparedVolume> | undefined {
  if (!volumeDirsSuffice(pod)) return undefined;
  const uid = pod.metadata?.uid ?? '';
  const out = new Map<string, PreparedVolume>();
  for (const v of pod.spec?.volumes ?? []) {
    const emptyDir = v.emptyDir !== undefined;
    const dir = volumeDir(dataDir, uid, emptyDir ? 'empty-dir' : (contentPlugin(v) ?? ''), v.name);
    out.set(v.name, { name: v.name, hostPath: dir, readOnly: !emptyDir });
  }
  // synchronous, as the atomic writer's calls (atomic-writer.ts); mode 0777 (less the umask) as set-up's
  for (const v of out.values()) mkdirSync(v.hostPath, { recursive: true });
  return out;
}

async function setUpVolume(ctx: VolumeContext, v: Volume): Promise<PreparedVolume> {
  const uid = ctx.pod.metadata?.uid ?? '';
  const stamp = new Date(ctx.clock.now()).toISOString().replace(/[:.]/g, '_');
  if (v.emptyDir) {
    const dir = volumeDir(ctx.dataDir, uid, 'empty-dir', v.name);
    await mkdir(dir, { recursive: true, mode: 0o777 });
    if (v.emptyDir.medium === 'Memory' && !(await ctx.mounter.isMountPoint(dir))) {
      const size = v.emptyDir.sizeLimit ? Quantity.parse(String(v.emptyDir.sizeLimit)).value() : undefined;
      await ctx.mounter.mountTmpfs(dir, { sizeBytes: size, signal: ctx.signal });
    }
    return { name: v.name, hostPath: dir, readOnly: false };
  }
  if (v.hostPath) {
    await checkHostPath(v.hostPath);
    return { name: v.name, hostPath: v.hostPath.path, readOnly: false };
  }
  if (v.persistentVolumeClaim) return setUpPersistentVolumeClaim(ctx, { ...v, persistentVolumeClaim: v.persistentVolumeClaim });
  if (v.ephemeral) return setUpPersistentVolumeClaim(ctx, { ...v, ephemeral: v.ephemeral });
  let files: ProjectedFile[] | undefined;
  const plugin = contentPlugin(v) ?? '';
  if (v.configMap) {
    files = await keyFiles(ctx, 'configmap', v.configMap.name ?? '', v.configMap.items, v.configMap.defaultMode, v.configMap.optional ?? false);
  } else if (v.secret) {
    files = await keyFiles(ctx, 'secret', v.secret.secretName ?? '', v.secret.items, v.secret.defaultMode, v.secret.optional ?? false);
  } else if (v.downwardAPI) {
    files = downwardFiles(ctx.pod, v.downwardAPI.items, v.downwardAPI.defaultMode);
  } else if (v.projected) {
    const mode = v.projected.defaultMode;
    const sources = await sideBySide<ProjectedFile[][]>((v.projected.sources ?? []).map((s) => ({ run: () => projectedSource(ctx, s, mode) })));
    files = sources.flat();
  }
  if (!files) {
    const kind = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
    throw new HedgeError('Invalid', `volume "${v.name}": volume type ${kind} is not supported by this node`);
  }
  const dir = volumeDir(ctx.dataDir, uid, plugin, v.name);
  await writeAtomic(dir, files, stamp);
  return { name: v.name, hostPath: dir, readOnly: true };
}

async function projectedSource(ctx: VolumeContext, s: VolumeProjection, defaultMode: number | undefined): Promise<ProjectedFile[]> {
  if (s.configMap) return keyFiles(ctx, 'configmap', s.configMap.name ?? '', s.configMap.items, defaultMode, s.configMap.optional ?? false);
  if (s.secret) return keyFiles(ctx, 'secret', s.secret.name ?? '', s.secret.items, defaultMode, s.secret.optional ?? false);
  if (s.downwardAPI) return downwardFiles(ctx.pod, s.downwardAPI.items, defaultMode);
  if (s.serviceAccountToken) {
    const token = await requestServiceAccountToken(ctx, s.serviceAccountToken);
    if (token === undefined) return [];
    return [{ path: s.serviceAccountToken.path, data: Buffer.from(token), mode: defaultMode ?? 0o644 }];
  }
  return []; // clusterTrustBundle: not supported yet
}

/** the files a configMap or secret source projects (absent and optional: none) */
async function keyFiles(
  ctx: VolumeContext,
  kind: 'configmap' | 'secret',
  name: string,
  items: Parameters<typeof projectKeys>[0]['items'],
  defaultMode: number | undefined,
  optional: boolean,
): Promise<ProjectedFile[]> {
  const data =
    kind === 'configmap'
      ? await getOptional<ConfigMap>(ctx, Resources.configmaps, name, optional, kind).then((cm) => cm && configMapData(cm))
      : await getOptional<Secret>(ctx, Resources.secrets, name, optional, kind).then((sec) => sec && secretData(sec));
  if (!data) return [];
  return projectKeys({ kind, name, data, items, defaultMode, optional });
}

async function getOptional<T>(
  ctx: VolumeContext,
  res: typeof Resources.configmaps | typeof Resources.secrets,
  name: string,
  optional: boolean,
  kind: string,
): Promise<T | undefined> {
  try {
    return (await ctx.client.get(res, name, { namespace: ctx.pod.metadata?.namespace, signal: ctx.signal })) as unknown as T;
  } catch (err) {
    if (isHedgeError(err, 'NotFound')) {
      if (optional) return undefined;
      throw new HedgeError('NotFound', `${kind} "${name}" not found`, { cause: err });
    }
    throw err;
  }
}
