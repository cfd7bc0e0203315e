import { parseWebhookSelector, anyRuleMatches, isExemptResource, namespaceSelectorMatches, objectSelectorMatches, type RuleTarget } from './matching.ts';
import { reviewBody, reviewRequest, verifyReviewResponse, WebhookCallError, type AdmissionVerdict, type MatchedVersion } from './review.ts';
import type { WebhookTransport } from './transport.ts';
import type { Selector } from '../../../api/labels/index.ts';
import type { Json, KubeObject } from '../../../api/object.ts';
import { applyJsonPatch } from '../../../api/patch/json-patch.ts';
import type { ResourceDef } from '../../../api/resources/types.ts';
import type { Webhook } from '../../../api/validation/admission-registration.ts';
import { HedgeError, type ErrorCode, type FieldCause } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { isPlainObject } from '../../../api/object.ts';
import { timeoutSignal } from '../../../lib/signals.ts';
import type { AdmissionPlugin, AdmissionRequest, ReinvocationContext } from '../types.ts';
import { ADMISSION_REQUEST_BUDGET, ADMISSION_TIMEOUT_MS, CelBudget, compileAdmissionExpression } from '../../../api/cel/index.ts';
import { admissionActivation, evaluateMatchConditions, forbiddenMessage, type CompiledMatchCondition, type MatchConditionsResult } from '../cel-activation.ts';

/** One webhook of a stored configuration, with its selectors parsed once per configuration revision. */
export interface CompiledWebhook {
  /** the configuration's name (configurations are called in name order, as upstream) */
  configuration: string;
  hook: Webhook;
  namespaceSelector: Selector;
  objectSelector: Selector;
  /** a selector that could not be parsed: every call fails (failurePolicy applies) */
  error?: string;
  /** matchConditions, compiled once per configuration revision */
  matchConditions: CompiledMatchCondition[];
  /** a stored condition that does not compile (stored before validation knew it): evaluating fails */
  conditionsError?: string;
}

/** compiles a webhook's matchConditions; validation refused bad ones, so an error here is for old stored data */
function compileMatchConditions(hook: Webhook): { matchConditions: CompiledMatchCondition[]; conditionsError?: string } {
  const out: CompiledMatchCondition[] = [];
  for (const c of Array.isArray(hook.matchConditions) ? hook.matchConditions : []) {
    if (!isPlainObject(c)) continue;
    const r = compileAdmissionExpression(typeof c.expression === 'string' ? c.expression.trim() : '', 'bool');
    if (!r.ok) return { matchConditions: [], conditionsError: `matchCondition ${JSON.stringify(c.name)}: ${r.message || 'expression is empty'}` };
    out.push({ name: String(c.name), program: r.program });
  }
  return { matchConditions: out };
}

/** Parses the webhooks of one configuration object. */
export function compileConfiguration(obj: KubeObject): CompiledWebhook[] {
  const hooks = (obj as { webhooks?: unknown }).webhooks;
  if (!Array.isArray(hooks)) return [];
  return hooks.filter(isPlainObject).map((raw) => {
    const hook = raw as unknown as Webhook;
    const configuration = obj.metadata.name ?? '';
    const conditions = compileMatchConditions(hook);
    try {
      return { configuration, hook, namespaceSelector: parseWebhookSelector(hook.namespaceSelector), objectSelector: parseWebhookSelector(hook.objectSelector), ...conditions };
    } catch (err) {
      const everything = parseWebhookSelector({});
      return { configuration, hook, namespaceSelector: everything, objectSelector: everything, error: (err as Error).message, ...conditions };
    }
  });
}

export interface WebhookDispatchOptions {
  /** the webhooks of every configuration of this kind, in call order (a cache: this is read on every request) */
  webhooks(): readonly CompiledWebhook[];
  transport: WebhookTransport;
  /** labels of a namespace (for namespaceSelector); undefined when there is none */
  namespaceLabels(name: string): Promise<Record<string, string> | undefined>;
  /** other served versions of a group/resource (matchPolicy Equivalent) */
  equivalentDefs(def: ResourceDef): readonly ResourceDef[];
  logger: Logger;
}

interface Invocation {
  w: CompiledWebhook;
  matched: MatchedVersion;
}

const isTimeout = (s: AbortSignal): boolean => s.aborted && (s.reason as Error | undefined)?.name === 'TimeoutError';

/** upstream's HTTP codes of a relayed Status, as our error codes (for internal callers that branch on them) */
function codeForHttp(http: number): ErrorCode {
  const known: Record<number, ErrorCode> = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict', 410: 'Gone', 422: 'Invalid', 429: 'TooManyRequests', 503: 'Unavailable', 504: 'Timeout' };
  return known[http] ?? (http >= 500 ? 'Internal' : 'BadRequest');
}

/** upstream webhookerrors.ToStatusErr: the webhook's Status, at least a 400, with `admission webhook "x" denied the request` */
export function deniedError(name: string, status: Record<string, unknown> | undefined): HedgeError {
  const s = status ?? {};
  const code = typeof s.code === 'number' && Number.isInteger(s.code) && s.code >= 400 && s.code <= 599 ? s.code : 400;
  const by = `admission webhook ${JSON.stringify(name)} denied the request`;
  const message = typeof s.message === 'string' && s.message ? `${by}: ${s.message}` : typeof s.reason === 'string' && s.reason ? `${by}: ${s.reason}` : `${by} without explanation`;
  const d = isPlainObject(s.details) ? s.details : {};
  const causes: FieldCause[] = Array.isArray(d.causes)
    ? d.causes.filter(isPlainObject).map((c) => ({
        field: typeof c.field === 'string' ? c.field : '',
        reason: (typeof c.reason === 'string' ? c.reason : 'FieldValueInvalid') as FieldCause['reason'],
        message: typeof c.message === 'string' ? c.message : '',
      }))
    : [];
  return new HedgeError(codeForHttp(code), message, {
    details: {
      relayed: { code, reason: typeof s.reason === 'string' ? s.reason : '' },
      ...(typeof d.name === 'string' ? { name: d.name } : {}),
      ...(typeof d.group === 'string' ? { group: d.group } : {}),
      ...(typeof d.kind === 'string' ? { kind: d.kind } : {}),
      ...(causes.length > 0 ? { causes } : {}),
    },
  });
}

/**
 * upstream's generic webhook dispatcher (admission/plugin/webhook/generic): which webhooks a
 * request goes to and one call with its failurePolicy. The mutating and validating plugins
 * below differ only in how they run the calls.
 */
class Dispatcher {
  constructor(
    readonly opts: WebhookDispatchOptions,
    readonly mutating: boolean,
  ) {}

  /** rules (exact, then an equivalent served version), then namespaceSelector and objectSelector */
  async invocations(req: AdmissionRequest): Promise<Invocation[]> {
    const all = this.opts.webhooks();
    if (all.length === 0 || isExemptResource(req.def.group, req.def.plural)) return [];
    const def = req.def;
    const t: RuleTarget = { operation: req.operation, group: def.group, version: def.version, resource: def.plural, subresource: req.subresource, namespace: req.namespace };
    const out: Invocation[] = [];
    for (const w of all) {
      let matched: MatchedVersion | undefined;
      if (anyRuleMatches(w.hook, t)) matched = { group: def.group, version: def.version, kind: def.kind, resource: def.plural };
      else if ((w.hook.matchPolicy ?? 'Equivalent') === 'Equivalent') {
        const eq = this.opts.equivalentDefs(def).find((d) => anyRuleMatches(w.hook, { ...t, group: d.group, version: d.version, resource: d.plural }));
        if (eq) matched = { group: eq.group, version: eq.version, kind: eq.kind, resource: eq.plural };
      }
      if (!matched) continue;
      if (!(await namespaceSelectorMatches(w.namespaceSelector, t, req, this.opts.namespaceLabels))) continue;
      if (!objectSelectorMatches(w.objectSelector, req.object, req.oldObject)) continue;
      if (!this.conditionsMatch(w, req, matched)) continue;
      out.push({ w, matched });
    }
    return out;
  }

  /**
   * upstream ShouldCallHook's last step: all matchConditions true → call; one false → skip; an
   * error → failurePolicy (Fail refuses the request as Forbidden, Ignore skips the webhook).
   */
  conditionsMatch(w: CompiledWebhook, req: AdmissionRequest, matched: MatchedVersion): boolean {
    if (w.matchConditions.length === 0 && !w.conditionsError) return true;
    const result: MatchConditionsResult = w.conditionsError
      ? { matches: false, error: w.conditionsError }
      : evaluateMatchConditions(w.matchConditions, admissionActivation(req, matched), new CelBudget({ limit: ADMISSION_REQUEST_BUDGET, timeoutMs: ADMISSION_TIMEOUT_MS }));
    if (result.matches) return true;
    if (!('error' in result)) return false;
    if (w.hook.failurePolicy === 'Ignore') {
      this.opts.logger.warn({ webhook: w.hook.name, configuration: w.configuration, err: result.error }, 'failed evaluating match conditions, skipping the webhook (failurePolicy Ignore)');
      return false;
    }
    this.opts.logger.warn({ webhook: w.hook.name, configuration: w.configuration, err: result.error }, 'failed evaluating match conditions, failing closed');
    throw new HedgeError('Forbidden', forbiddenMessage(req, result.error), { details: { kind: req.def.plural, group: req.def.group, name: req.name || undefined } });
  }

  /** One call; undefined when it failed and its failurePolicy is Ignore. */
  async call(inv: Invocation, req: AdmissionRequest): Promise<AdmissionVerdict | undefined> {
    const h = inv.w.hook;
    if (req.dryRun && h.sideEffects !== 'None' && h.sideEffects !== 'NoneOnDryRun') {
      throw new HedgeError('BadRequest', `admission webhook ${JSON.stringify(h.name)} does not support dry run`);
    }
    const timeoutSeconds = h.timeoutSeconds ?? 10;
    const signal = timeoutSignal(req.signal, timeoutSeconds * 1000);
    try {
      if (inv.w.error) throw new WebhookCallError(`invalid selector: ${inv.w.error}`);
      const review = reviewRequest(req, inv.matched);
      const body = await this.opts.transport.post({ clientConfig: h.clientConfig, body: reviewBody(review), timeoutSeconds, signal });
      const verdict = verifyReviewResponse(body, review.uid, this.mutating);
      if (verdict.warnings.length > 0) req.warnings?.push(...verdict.warnings);
      if (!verdict.allowed) throw deniedError(h.name, verdict.status);
      return verdict;
    } catch (err) {
      if (!(err instanceof WebhookCallError)) throw err;
      const message = isTimeout(signal) && !err.message.includes('context deadline exceeded') ? `${err.message}: context deadline exceeded` : err.message;
      if (h.failurePolicy === 'Ignore') {
        this.opts.logger.warn({ webhook: h.name, configuration: inv.w.configuration, err: message }, 'failed calling webhook, failing open (failurePolicy Ignore)');
        return undefined;
      }
      throw new HedgeError('Internal', `Internal error occurred: failed calling webhook ${JSON.stringify(h.name)}: ${message}`, { cause: err });
    } finally {
      signal.clear();
    }
  }
}

/** Applies a mutating webhook's JSONPatch to req.object in place; true when it changed anything. */
function applyWebhookPatch(req: AdmissionRequest, inv: Invocation, ops: unknown[]): boolean {
  const obj = req.object;
  if (!obj) return false;
  const before = JSON.stringify(obj);
  // a subresource's own type (a Scale) was sent as it is: no version to convert, not the resource's defaults
  const own = req.kind === undefined;
  const doc = !own || inv.matched.version === req.def.version ? obj : { ...obj, apiVersion: inv.matched.group ? `${inv.matched.group}/${inv.matched.version}` : inv.matched.version };
  let patched: Json;
  try {
    patched = applyJsonPatch(doc as unknown as Json, ops);
  } catch (err) {
    throw new HedgeError('Internal', `Internal error occurred: failed to apply the patch of admission webhook ${JSON.stringify(inv.w.hook.name)}: ${(err as Error).message}`, { cause: err });
  }
  if (!isPlainObject(patched) || !isPlainObject(patched.metadata)) {
    throw new HedgeError('Internal', `Internal error occurred: the patch of admission webhook ${JSON.stringify(inv.w.hook.name)} did not leave an object with metadata`);
  }
  const result = patched as unknown as KubeObject;
  if (obj.apiVersion !== undefined) result.apiVersion = obj.apiVersion;
  // the patched object is decoded again and defaulted, as upstream's scheme does
  if (own) req.def.defaults?.(result);
  if (JSON.stringify(result) === before) return false;
  for (const k of Object.keys(obj)) delete (obj as unknown as Record<string, unknown>)[k];
  Object.assign(obj, result);
  return true;
}

/** What the webhook plugin keeps between the chain's two mutate passes (upstream webhookReinvokeContext). */
interface WebhookReinvocation {
  /** IfNeeded webhooks the object changed after (by a later webhook) */
  toReinvoke: Set<string>;
  /** every IfNeeded webhook called in the first pass */
  invokedIfNeeded: Set<string>;
  /** the object as the last webhook left it: a difference means a built-in plugin changed it since */
  lastOutput: string;
}

const PLUGIN = 'MutatingAdmissionWebhook';
const keyOf = (inv: Invocation): string => `${inv.w.configuration}/${inv.w.hook.name}`;

/**
 * MutatingAdmissionWebhook: matching webhooks called one after another, each seeing the
 * previous one's patch. Reinvocation as upstream: a webhook's change asks the chain for a second
 * mutate pass (the built-in plugins run again); in it, the `IfNeeded` webhooks that saw the
 * object before a later webhook changed it are called once more, or every `IfNeeded` webhook
 * called before when a built-in plugin changed the object in the second pass. Called outside a
 * chain (no reinvocation context), the plugin makes its own second pass of webhooks only.
 * DELETE requests call the webhooks too (hedge runs only the validate phase for a delete, so they
 * are called there; there is no object to patch).
 */
export function mutatingWebhookPlugin(opts: WebhookDispatchOptions): AdmissionPlugin {
  const d = new Dispatcher(opts, true);
  const pass = async (req: AdmissionRequest, ctx: ReinvocationContext): Promise<void> => {
    const state = ctx.values.get(PLUGIN) as WebhookReinvocation | undefined;
    if (ctx.isReinvoke && !state) return;
    const invs = await d.invocations(req);
    if (invs.length === 0) return;
    const current = (): string => JSON.stringify(req.object ?? null);
    let call: (inv: Invocation) => boolean;
    if (ctx.isReinvoke && state) {
      const pick = current() !== state.lastOutput ? state.invokedIfNeeded : state.toReinvoke;
      call = (inv) => pick.has(keyOf(inv));
    } else {
      call = () => true;
    }
    const s: WebhookReinvocation = state ?? { toReinvoke: new Set(), invokedIfNeeded: new Set(), lastOutput: '' };
    let before: string[] = [];
    for (const inv of invs) {
      if (!call(inv)) continue;
      const verdict = await d.call(inv, req);
      if (verdict?.patch && verdict.patch.length > 0 && req.operation !== 'DELETE' && applyWebhookPatch(req, inv, verdict.patch)) {
        for (const k of before) s.toReinvoke.add(k);
        before = [];
        ctx.shouldReinvoke = true;
      }
      if (inv.w.hook.reinvocationPolicy === 'IfNeeded') {
        before.push(keyOf(inv));
        s.invokedIfNeeded.add(keyOf(inv));
      }
    }
    s.lastOutput = current();
    ctx.values.set(PLUGIN, s);
  };
  const run = async (req: AdmissionRequest): Promise<void> => {
    if (req.reinvocation) return pass(req, req.reinvocation);
    const own: ReinvocationContext = { shouldReinvoke: false, isReinvoke: false, values: new Map() };
    await pass(req, own);
    if (!own.shouldReinvoke) return;
    own.isReinvoke = true;
    await pass(req, own);
  };
  return {
    name: PLUGIN,
    async mutate(req) {
      await run(req);
    },
    async validate(req) {
      if (req.operation === 'DELETE') await run(req);
    },
  };
}

/** ValidatingAdmissionWebhook: matching webhooks called in parallel; the first refusal (in webhook order) wins. */
export function validatingWebhookPlugin(opts: WebhookDispatchOptions): AdmissionPlugin {
  const d = new Dispatcher(opts, false);
  return {
    name: 'ValidatingAdmissionWebhook',
    async validate(req) {
      const invs = await d.invocations(req);
      if (invs.length === 0) return;
      const results = await Promise.allSettled(invs.map((inv) => d.call(inv, req)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
