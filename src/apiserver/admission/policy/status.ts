import type { KubeObject } from '../../../api/object.ts';
import type { ResourceDef } from '../../../api/resources/types.ts';
import { isHedgeError } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import type { UserInfo } from '../../auth/types.ts';
import type { Registry } from '../../registry/registry.ts';

/**
 * Sets a policy's `status.observedGeneration` once its generation is compiled (upstream's
 * type-checking controller does; hedge leaves `status.typeChecking` empty). Called from the
 * policies cache's events; a status write brings one more event, which finds nothing to do.
 */
export async function observePolicyGeneration(opts: { registry: Registry; def: ResourceDef; obj: KubeObject; user: UserInfo; signal: AbortSignal; logger: Logger }): Promise<void> {
  const { obj } = opts;
  const generation = obj.metadata.generation ?? 0;
  const status = (obj as { status?: { observedGeneration?: number } }).status;
  if (status?.observedGeneration === generation) return;
  try {
    await opts.registry.transform(opts.def, '', obj.metadata.name ?? '', 'status', { user: opts.user, dryRun: false, signal: opts.signal }, (cur) => {
      const g = cur.metadata.generation ?? 0;
      const s = ((cur as { status?: Record<string, unknown> }).status ?? {}) as Record<string, unknown>;
      return { ...cur, status: { ...s, observedGeneration: g } } as KubeObject;
    });
  } catch (err) {
    // deleted meanwhile, or the server is closing: nothing to record
    if (isHedgeError(err, 'NotFound') || opts.signal.aborted) return;
    opts.logger.warn({ err, policy: obj.metadata.name }, 'could not record the policy\'s observedGeneration');
  }
}
