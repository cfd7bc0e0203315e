import type { KubeObject } from '../../../api/object.ts';
import { compileConfiguration, type CompiledWebhook } from './dispatch.ts';

/**
 * The webhooks of one configuration kind, compiled from a cache that follows the store (an
 * ObjectCache's `onEvent` calls `changed()`): recompiled on the first request after a change,
 * so a request with no configuration stored pays one array length check.
 */
export class WebhookConfigurations {
  readonly #list: () => Iterable<KubeObject>;
  #compiled: readonly CompiledWebhook[] | undefined;

  constructor(list: () => Iterable<KubeObject>) {
    this.#list = list;
  }

  changed(): void {
    this.#compiled = undefined;
  }

  /** every webhook, configurations in name order (upstream sorts them so), webhooks in their order */
  webhooks(): readonly CompiledWebhook[] {
    if (this.#compiled) return this.#compiled;
    const configs = [...this.#list()].sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : (a.metadata.name ?? '') > (b.metadata.name ?? '') ? 1 : 0));
    this.#compiled = configs.flatMap(compileConfiguration);
    return this.#compiled;
  }
}
