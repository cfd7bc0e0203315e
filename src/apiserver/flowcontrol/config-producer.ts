import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { UserInfo } from '../auth/types.ts';
import type { Registry } from '../registry/registry.ts';
import { AUTO_UPDATE_ANNOTATION, MANDATORY_FLOW_SCHEMAS, MANDATORY_PRIORITY_LEVELS, SUGGESTED_FLOW_SCHEMAS, SUGGESTED_PRIORITY_LEVELS } from './bootstrap.ts';

export interface ConfigProducerOptions {
  registry: Registry;
  flowSchemas: ResourceDef;
  priorityLevels: ResourceDef;
  user: UserInfo;
  signal: AbortSignal;
  logger: Logger;
}

/**
 * upstream's APF bootstrap "config-producer" (pkg/registry/flowcontrol/ensurer): the mandatory
 * objects are created when missing and their spec put back when changed; the suggested ones are
 * created when missing and their spec kept up to date only while `apf.kubernetes.io/autoupdate-spec`
 * is "true" (an object without the annotation that nobody changed, generation 1, gets it). A
 * user who sets it to "false" owns that object. Objects are never deleted here.
 */
export async function ensureFlowControlObjects(opts: ConfigProducerOptions, only?: { kind: 'FlowSchema' | 'PriorityLevelConfiguration'; name: string }): Promise<void> {
  const jobs: [ResourceDef, KubeObject, boolean][] = [
    ...MANDATORY_PRIORITY_LEVELS.map((o): [ResourceDef, KubeObject, boolean] => [opts.priorityLevels, o, true]),
    ...SUGGESTED_PRIORITY_LEVELS.map((o): [ResourceDef, KubeObject, boolean] => [opts.priorityLevels, o, false]),
    ...MANDATORY_FLOW_SCHEMAS.map((o): [ResourceDef, KubeObject, boolean] => [opts.flowSchemas, o, true]),
    ...SUGGESTED_FLOW_SCHEMAS.map((o): [ResourceDef, KubeObject, boolean] => [opts.flowSchemas, o, false]),
  ];
  for (const [def, obj, mandatory] of jobs) {
    if (only && (only.kind !== obj.kind || only.name !== obj.metadata.name)) continue;
    try {
      await ensureOne(opts, def, obj, mandatory);
    } catch (err) {
      if (opts.signal.aborted) return;
      opts.logger.warn({ err, kind: obj.kind, name: obj.metadata.name }, 'could not ensure an API Priority and Fairness bootstrap object');
    }
  }
}

async function ensureOne(opts: ConfigProducerOptions, def: ResourceDef, bootstrap: KubeObject, mandatory: boolean): Promise<void> {
  const { registry, user, signal } = opts;
  const ctx = { user, dryRun: false, signal, fieldManager: 'api-priority-and-fairness-config-producer-v1' };
  const name = bootstrap.metadata.name!;
  const wantSpec = (bootstrap as { spec?: unknown }).spec;
  const current = (await registry.storeFor(def).tryGet('', name))?.obj;
  if (!current) {
    const obj = structuredClone(bootstrap);
    obj.metadata.annotations = { [AUTO_UPDATE_ANNOTATION]: 'true' };
    try {
      await registry.create(def, obj, ctx);
    } catch (err) {
      if (!isHedgeError(err, 'AlreadyExists')) throw err;
    }
    return;
  }
  const annotation = current.metadata.annotations?.[AUTO_UPDATE_ANNOTATION];
  const autoUpdate = mandatory || annotation === 'true' || (annotation === undefined && (current.metadata.generation ?? 1) === 1);
  if (!autoUpdate) return;
  if (isDeepStrictEqual((current as { spec?: unknown }).spec, wantSpec) && annotation === 'true') return;
  await registry.transform(def, '', name, '', ctx, (cur) => ({
    ...cur,
    metadata: { ...cur.metadata, annotations: { ...cur.metadata.annotations, [AUTO_UPDATE_ANNOTATION]: 'true' } },
    spec: structuredClone(wantSpec),
  }));
}
