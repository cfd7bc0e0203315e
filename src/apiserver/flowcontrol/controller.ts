import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { isHedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { ObjectCache } from '../auth/object-cache.ts';
import type { UserInfo } from '../auth/types.ts';
import type { Registry } from '../registry/registry.ts';
import type { PriorityAndFairness } from './apf.ts';
import { MANDATORY_FLOW_SCHEMAS, MANDATORY_PRIORITY_LEVELS, type FlowSchema, type FlowSchemaCondition, type PriorityLevelConfiguration } from './bootstrap.ts';
import { ensureFlowControlObjects } from './config-producer.ts';

export interface FlowControlControllerOptions {
  registry: Registry;
  flowSchemas: ResourceDef;
  priorityLevels: ResourceDef;
  apf: PriorityAndFairness;
  user: UserInfo;
  signal: AbortSignal;
  logger: Logger;
  /** create and maintain the bootstrap objects (false on the edge hub's replica) */
  bootstrap: boolean;
}

/**
 * Follows the stored FlowSchemas and PriorityLevelConfigurations (caches over the store's watch):
 * every change is a new configuration at once (no restart), each FlowSchema's `Dangling` status
 * condition is written when it changes, and a deleted mandatory object is made again.
 */
export class FlowControlController {
  readonly #o: FlowControlControllerOptions;
  readonly #fs: ObjectCache<FlowSchema>;
  readonly #pl: ObjectCache<PriorityLevelConfiguration>;
  #started = false;
  #statusRunning: Promise<void> | undefined;
  #statusAgain = false;

  constructor(o: FlowControlControllerOptions) {
    this.#o = o;
    const onEvent = (kind: 'FlowSchema' | 'PriorityLevelConfiguration', mandatory: readonly KubeObject[]) => (ev: { type: string; obj?: KubeObject }) => {
      if (!this.#started) return;
      this.#reconfigure();
      if (o.bootstrap && ev.type === 'deleted' && ev.obj && mandatory.some((m) => m.metadata.name === ev.obj!.metadata.name)) {
        void ensureFlowControlObjects(this.#producer(), { kind, name: ev.obj.metadata.name! });
      }
    };
    this.#fs = new ObjectCache<FlowSchema>({ registry: o.registry, def: o.flowSchemas, logger: o.logger, signal: o.signal, onEvent: onEvent('FlowSchema', MANDATORY_FLOW_SCHEMAS) });
    this.#pl = new ObjectCache<PriorityLevelConfiguration>({ registry: o.registry, def: o.priorityLevels, logger: o.logger, signal: o.signal, onEvent: onEvent('PriorityLevelConfiguration', MANDATORY_PRIORITY_LEVELS) });
  }

  async start(): Promise<void> {
    if (this.#o.bootstrap) await ensureFlowControlObjects(this.#producer());
    await this.#pl.start();
    await this.#fs.start();
    this.#started = true;
    this.#reconfigure();
  }

  #producer() {
    const { registry, flowSchemas, priorityLevels, user, signal, logger } = this.#o;
    return { registry, flowSchemas, priorityLevels, user, signal, logger };
  }

  #reconfigure(): void {
    const fss = [...this.#fs.list()];
    const pls = [...this.#pl.list()];
    this.#o.apf.setConfig(fss, pls);
    // the replica follows the cloud's status; only the apiserver that owns the objects writes it
    if (this.#o.bootstrap) this.#writeStatus();
  }

  /** one status pass at a time; a change while it runs asks for one more */
  #writeStatus(): void {
    if (this.#statusRunning) {
      this.#statusAgain = true;
      return;
    }
    this.#statusRunning = (async () => {
      do {
        this.#statusAgain = false;
        const pls = [...this.#pl.list()];
        for (const fs of [...this.#fs.list()]) {
          if (this.#o.signal.aborted) return;
          const want = this.#o.apf.danglingCondition(fs, pls);
          const have = fs.status?.conditions?.find((c) => c.type === 'Dangling');
          if (have && have.status === want.status && have.reason === want.reason && have.message === want.message) continue;
          await this.#setCondition(fs.metadata.name!, want);
        }
      } while (this.#statusAgain && !this.#o.signal.aborted);
    })().finally(() => {
      this.#statusRunning = undefined;
    });
  }

  async #setCondition(name: string, want: FlowSchemaCondition): Promise<void> {
    const { registry, flowSchemas, user, signal, logger } = this.#o;
    try {
      await registry.transform(flowSchemas, '', name, 'status', { user, dryRun: false, signal, fieldManager: 'api-priority-and-fairness-config-consumer-v1' }, (cur) => {
        const status = (cur as FlowSchema).status ?? {};
        const others = (status.conditions ?? []).filter((c) => c.type !== 'Dangling');
        const old = (status.conditions ?? []).find((c) => c.type === 'Dangling');
        const cond: FlowSchemaCondition = { ...want, lastTransitionTime: old && old.status === want.status && old.lastTransitionTime ? old.lastTransitionTime : registry.now().toISOString().replace(/\.\d+Z$/, 'Z') };
        if (old && isDeepStrictEqual(old, cond)) return cur;
        return { ...cur, status: { ...status, conditions: [...others, cond] } };
      });
    } catch (err) {
      if (signal.aborted || isHedgeError(err, 'NotFound')) return;
      logger.warn({ err, flowSchema: name }, 'could not write a FlowSchema status');
    }
  }

  /** resolves once the status writes in flight are done (tests) */
  async idle(): Promise<void> {
    while (this.#statusRunning) await this.#statusRunning;
  }
}
