import { createHash } from 'node:crypto';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { parseAllDocuments } from 'yaml';
import { defaultPodSpec, podQOSClass } from '../../api/defaults/pod.ts';
import { validateObjectMeta } from '../../api/meta/object-meta.ts';
import { nameIsDNSSubdomain } from '../../api/meta/name.ts';
import { isPlainObject, type KubeObject } from '../../api/object.ts';
import { CONFIG_HASH_ANNOTATION, CONFIG_SEEN_ANNOTATION, CONFIG_SOURCE_ANNOTATION, MIRROR_POD_ANNOTATION } from '../../api/static-pod.ts';
import { validatePod } from '../../api/validation/pod.ts';
import type { FieldCause } from '../../lib/errors.ts';

/** the files a static pod directory is read for (others, and dotfiles such as editor swap files, are ignored) */
export const isManifestFile = (name: string): boolean => !name.startsWith('.') && /\.(ya?ml|json)$/i.test(name);

export type ManifestResult = { ok: true; pod: Pod } | { ok: false; error: string };

/** upstream generatePodName: `<name>-<node>`, the node name lower-cased */
export const staticPodName = (name: string, nodeName: string): string => `${name}-${nodeName.toLowerCase()}`;

/** JSON with sorted keys: the hash follows the decoded pod, not its formatting or comments */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => v[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * upstream applyDefaults (pkg/kubelet/config/common.go): the UID, unless the manifest names one,
 * is an MD5 of the decoded pod, the node and the file (so it and `config.hash` change exactly when
 * the pod does), hex without dashes.
 */
export function staticPodHash(decoded: unknown, nodeName: string, file: string): string {
  return createHash('md5').update(canonical(decoded)).update(`host:${nodeName}`).update(`file:${file}`).digest('hex');
}

const describeCauses = (causes: FieldCause[]): string => causes.map((c) => `${c.field}: ${c.message}`).join('; ');

/**
 * One static pod from the text of `file` (YAML or JSON, one Pod per file as upstream), named and
 * annotated as the kubelet's file source does: `<name>-<node>`, namespace `default` when unset,
 * `spec.nodeName` this node, `config.source: file`, `config.hash` (= UID), `config.seen` (`seenAt`),
 * a NoExecute toleration of every taint, then the API's defaults and validation. Never throws: a
 * bad manifest is `{ ok: false, error }` naming the file and the field.
 */
export function parseStaticPod(o: { text: string; file: string; nodeName: string; seenAt: string }): ManifestResult {
  const fail = (msg: string): ManifestResult => ({ ok: false, error: `static pod manifest ${o.file}: ${msg}` });
  let decoded: unknown;
  try {
    const docs = parseAllDocuments(o.text).filter((d) => d.contents !== null);
    if (docs.length === 0) return fail('empty file');
    if (docs.length > 1) return fail(`holds ${docs.length} documents; a static pod file holds one Pod`);
    const [doc] = docs;
    if (doc!.errors.length > 0) return fail(`cannot be decoded: ${doc!.errors[0]!.message}`);
    decoded = doc!.toJS();
  } catch (err) {
    return fail(`cannot be decoded: ${(err as Error).message}`);
  }
  if (!isPlainObject(decoded)) return fail('is not an object');
  if (decoded.kind !== 'Pod') return fail(`kind: must be Pod, not ${JSON.stringify(decoded.kind ?? '')}`);
  if (decoded.apiVersion !== 'v1') return fail(`apiVersion: must be v1, not ${JSON.stringify(decoded.apiVersion ?? '')}`);
  if (decoded.metadata !== undefined && !isPlainObject(decoded.metadata)) return fail('metadata: must be an object');
  if (!isPlainObject(decoded.spec)) return fail('spec: Required value');
  const pod = structuredClone(decoded) as unknown as Pod & KubeObject;
  const meta = (pod.metadata ??= {});
  if (typeof meta.name !== 'string' || meta.name === '') return fail('metadata.name: Required value');
  const annotations = isPlainObject(meta.annotations) ? (meta.annotations as Record<string, string>) : {};
  if (annotations[MIRROR_POD_ANNOTATION] !== undefined) return fail(`metadata.annotations: a static pod may not carry ${MIRROR_POD_ANNOTATION}`);
  const uid = typeof meta.uid === 'string' && meta.uid !== '' ? meta.uid : staticPodHash(decoded, o.nodeName, o.file);
  (meta as { uid?: string }).uid = uid;
  meta.name = staticPodName(meta.name, o.nodeName);
  meta.namespace ||= 'default';
  meta.annotations = { ...annotations, [CONFIG_HASH_ANNOTATION]: uid, [CONFIG_SOURCE_ANNOTATION]: 'file', [CONFIG_SEEN_ANNOTATION]: o.seenAt };
  const spec = pod.spec!;
  spec.nodeName = o.nodeName;
  // static pods are not evicted for node problems (upstream adds this toleration to file pods)
  const tolerations = (spec.tolerations ??= []);
  if (!tolerations.some((t) => t.operator === 'Exists' && t.effect === 'NoExecute' && !t.key)) tolerations.push({ operator: 'Exists', effect: 'NoExecute' });
  try {
    defaultPodSpec(spec);
  } catch (err) {
    return fail(`spec: ${(err as Error).message}`);
  }
  const causes = [...validateObjectMeta(meta, { namespaced: true, nameFn: nameIsDNSSubdomain }), ...validatePod(pod)];
  if (causes.length > 0) return fail(describeCauses(causes));
  (pod as { status?: Pod['status'] }).status = { phase: 'Pending', qosClass: podQOSClass(spec) };
  return { ok: true, pod };
}
