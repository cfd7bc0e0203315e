import { ADMISSION_PER_CALL_LIMIT, ADMISSION_REQUEST_BUDGET, ADMISSION_TIMEOUT_MS, CelBudget, CelEvalError, jsonToCel, type CelProgram } from '../../../api/cel/index.ts';
import { selectorFromLabelSelector, matches } from '../../../api/labels/index.ts';
import type { KubeObject } from '../../../api/object.ts';
import type { ResourceDef } from '../../../api/resources/types.ts';
import type { ParamRef } from '../../../api/validation/admission-policy.ts';
import { HedgeError, type ErrorCode } from '../../../lib/errors.ts';
import type { Logger } from '../../../lib/log.ts';
import { admissionActivation, evaluateMatchConditions, forbiddenMessage, type CelMatchedVersion } from '../cel-activation.ts';
import type { AdmissionPlugin, AdmissionRequest } from '../types.ts';
import { isExemptResource } from '../webhook/matching.ts';
import type { CompiledBinding, CompiledPolicy } from './compile.ts';
import { matchResources, type MatchContext } from './matching.ts';
import type { PolicyHook } from './policies.ts';

/** where params come from: the apiserver's own store (a paramKind is any served kind) */
export interface ParamSource {
  /** the served resource of a paramKind; undefined when none is */
  resolve(apiVersion: string, kind: string): ResourceDef | undefined;
  get(def: ResourceDef, namespace: string, name: string): Promise<KubeObject | undefined>;
  list(def: ResourceDef, namespace: string): Promise<KubeObject[]>;
}

export interface PolicyPluginOptions extends MatchContext {
  /** the compiled policies with their bindings (a cache: read on every request) */
  hooks(): readonly PolicyHook[];
  /** a namespace as stored (namespaceObject); undefined when there is none */
  getNamespace(name: string): Promise<KubeObject | undefined>;
  params: ParamSource;
  logger: Logger;
}

/** upstream PolicyDecision: a refusal (validation false, or an error under Fail) with its reason */
interface Denial {
  message: string;
  /** '' for errors: the response is Invalid then */
  reason: string;
  index: number;
}

const REASON_CODES: Record<string, ErrorCode> = { Unauthorized: 'Unauthorized', Forbidden: 'Forbidden', Invalid: 'Invalid', RequestEntityTooLarge: 'RequestEntityTooLarge' };
const MAX_MESSAGE_BYTES = 5 * 1024;
const MAX_AUDIT_VALUE = 10 * 1024;

class ConfigError extends Error {}

/**
 * upstream generic.CollectParams: no paramKind → one null param; paramKind without paramRef →
 * one null param; by name or selector in the paramRef's namespace (else the request's, for a
 * namespaced kind); none found with parameterNotFoundAction Deny → a configuration error.
 */
async function collectParams(policy: CompiledPolicy, ref: ParamRef | undefined, req: AdmissionRequest, source: ParamSource): Promise<unknown[]> {
  if (!policy.paramKind) return [null];
  const pk = policy.paramKind;
  const def = source.resolve(pk.apiVersion, pk.kind);
  if (!ref) {
    if (!def) throw new ConfigError(`paramKind kind \`${pk.apiVersion}, Kind=${pk.kind}\` not known`);
    return [null];
  }
  if (!def) throw new ConfigError(`paramKind kind \`${pk.apiVersion}, Kind=${pk.kind}\` not known`);
  let namespace = '';
  if (def.namespaced) {
    namespace = ref.namespace || req.namespace;
    if (!namespace) throw new ConfigError('cannot use namespaced paramRef in policy binding that matches cluster-scoped resources');
  } else if (ref.namespace) throw new ConfigError('paramRef.namespace must not be provided for a cluster-scoped `paramKind`');
  let params: KubeObject[];
  if (ref.name) {
    const got = await source.get(def, namespace, ref.name);
    params = got ? [got] : [];
  } else if (ref.selector) {
    const sel = selectorFromLabelSelector(ref.selector);
    params = (await source.list(def, namespace)).filter((o) => matches(sel, o.metadata.labels));
  } else throw new ConfigError('one of name or selector must be provided');
  if (params.length === 0 && (ref.parameterNotFoundAction ?? 'Deny') === 'Deny') throw new ConfigError('no params found for policy binding with `Deny` parameterNotFoundAction');
  return params.map((p) => jsonToCel({ ...p, apiVersion: p.apiVersion ?? pk.apiVersion, kind: p.kind ?? pk.kind }));
}

/** upstream CreateNamespaceObject: the namespace without managedFields and owner references */
function namespaceObject(ns: KubeObject | undefined): unknown {
  if (!ns) return null;
  const m = ns.metadata;
  const meta: Record<string, unknown> = {};
  for (const k of ['name', 'generateName', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'finalizers'] as const) {
    if (m[k] !== undefined) meta[k] = m[k];
  }
  const n = ns as { spec?: unknown; status?: unknown };
  return jsonToCel({ metadata: meta, spec: n.spec ?? {}, status: n.status ?? {} });
}

/** `variables`: each composited variable evaluated on first read, at most once per evaluation */
function lazyVariables(policy: CompiledPolicy, base: Record<string, unknown>, budget: CelBudget): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const vars = { ...base, variables: out };
  for (const v of policy.variables) {
    let done = false;
    let value: unknown;
    let error: string | undefined;
    Object.defineProperty(out, v.name, {
      enumerable: true,
      get() {
        if (!done) {
          done = true;
          try {
            value = v.program.evaluate(vars, budget.child(ADMISSION_PER_CALL_LIMIT));
          } catch (e) {
            if (!(e instanceof CelEvalError)) throw e;
            error = `composited variable "${v.name}" fails to evaluate: ${e.message}`;
          }
        }
        if (error !== undefined) throw new CelEvalError(error);
        return value;
      },
    });
  }
  return vars;
}

function evalMessage(p: CelProgram, vars: Record<string, unknown>, budget: CelBudget): string {
  try {
    const got = p.evaluate(vars, budget.child(ADMISSION_PER_CALL_LIMIT));
    if (typeof got !== 'string') return '';
    const text = got.trim();
    return Buffer.byteLength(text) > MAX_MESSAGE_BYTES || text.includes('\n') ? '' : text;
  } catch (e) {
    if (e instanceof CelEvalError) return '';
    throw e;
  }
}

/**
 * upstream validator.Validate for one param: matchConditions (false: nothing to say; an error:
 * failurePolicy), then each validation (false: a denial with its reason and message; an error:
 * a denial under Fail, nothing under Ignore), then the audit annotations.
 */
function validate(policy: CompiledPolicy, vars: Record<string, unknown>, budget: CelBudget): { denials: Denial[]; annotations: [string, string][] } {
  const denials: Denial[] = [];
  const annotations: [string, string][] = [];
  const fail = policy.failurePolicy === 'Fail';
  if (policy.matchConditions.length > 0) {
    const m = evaluateMatchConditions(policy.matchConditions, vars, budget);
    if (!m.matches) {
      if ('error' in m && fail) denials.push({ message: m.error, reason: '', index: 0 });
      return { denials, annotations };
    }
  }
  policy.validations.forEach((v, i) => {
    let got: unknown;
    try {
      got = v.program.evaluate(vars, budget.child(ADMISSION_PER_CALL_LIMIT));
    } catch (e) {
      if (!(e instanceof CelEvalError)) throw e;
      if (fail) denials.push({ message: `expression '${v.validation.expression.trim()}' resulted in error: ${e.message}`, reason: '', index: i });
      return;
    }
    if (got === true) return;
    if (typeof got !== 'boolean') {
      if (fail) denials.push({ message: `expression '${v.validation.expression.trim()}' resulted in error: expected bool`, reason: '', index: i });
      return;
    }
    let message = v.message ? evalMessage(v.message, vars, budget) : '';
    if (!message && v.validation.message) message = v.validation.message.trim();
    if (!message) message = `failed expression: ${v.validation.expression.trim()}`;
    denials.push({ message, reason: v.validation.reason ?? 'Invalid', index: i });
  });
  for (const a of policy.auditAnnotations) {
    let got: unknown;
    try {
      got = a.program.evaluate(vars, budget.child(ADMISSION_PER_CALL_LIMIT));
    } catch (e) {
      if (!(e instanceof CelEvalError)) throw e;
      if (fail) denials.push({ message: e.message, reason: '', index: -1 });
      continue;
    }
    if (got === null || got === undefined) continue;
    if (typeof got !== 'string') {
      denials.push({ message: `valueExpression '${a.program.source}' resulted in unsupported return type. Return type must be either string or null.`, reason: '', index: -1 });
      continue;
    }
    const value = got.trim();
    if (value) annotations.push([a.key, value.slice(0, MAX_AUDIT_VALUE)]);
  }
  return { denials, annotations };
}

/**
 * ValidatingAdmissionPolicy (upstream plugin/policy/validating): for each policy whose
 * matchConstraints match the request, each of its bindings whose matchResources match, each
 * param the binding selects — the policy's expressions, and the binding's validationActions for
 * what they refuse: Deny (the first refusal is the response), Warn (a `Warning` header), Audit
 * (upstream's `validation.policy.admission.k8s.io/validation_failure` annotation on the request's
 * audit event, with the policies' own `<policy>/<key>` audit annotations; a debug log line when
 * the request is not audited).
 */
const VALIDATION_FAILURE_ANNOTATION = 'validation.policy.admission.k8s.io/validation_failure';

export function validatingAdmissionPolicyPlugin(opts: PolicyPluginOptions): AdmissionPlugin {
  return {
    name: 'ValidatingAdmissionPolicy',
    async validate(req) {
      const hooks = opts.hooks();
      if (hooks.length === 0 || isExemptResource(req.def.group, req.def.plural)) return;
      const denied: { policy: string; binding?: string; message: string; reason: string }[] = [];
      const auditFailures: { message: string; policy: string; binding: string; expressionIndex: number; validationActions: string[] }[] = [];
      const auditAnnotate = (key: string, value: string): void => {
        if (req.auditAnnotations) req.auditAnnotations[key] = value;
        else opts.logger.debug({ annotation: key, value, resource: req.def.plural, namespace: req.namespace, name: req.name }, 'validating admission policy audit annotation (request not audited)');
      };
      const configError = (policy: CompiledPolicy, binding: CompiledBinding | undefined, err: string): void => {
        if (policy.failurePolicy === 'Ignore') {
          opts.logger.warn({ policy: policy.name, binding: binding?.name, err }, 'policy configuration error ignored (failurePolicy Ignore)');
          return;
        }
        denied.push({ policy: policy.name, binding: binding?.name, message: binding ? `failed to configure binding: ${err}` : `failed to configure policy: ${err}`, reason: '' });
      };
      let nsObject: unknown;
      const namespaceObj = async (): Promise<unknown> => {
        if (nsObject !== undefined) return nsObject;
        // a Namespace request has no namespace object (upstream unsets it)
        const name = req.def.group === '' && req.def.kind === 'Namespace' ? '' : req.namespace;
        nsObject = name ? namespaceObject(await opts.getNamespace(name)) : null;
        return nsObject;
      };
      for (const { policy, bindings } of hooks) {
        const matched: CelMatchedVersion | undefined = await matchResources(policy.match, req, opts);
        if (!matched) continue;
        if (policy.error) {
          configError(policy, undefined, policy.error);
          continue;
        }
        const base = admissionActivation(req, matched);
        const annotations = new Map<string, Set<string>>();
        for (const b of bindings) {
          if (b.error) {
            configError(policy, b, b.error);
            continue;
          }
          if (b.match && !(await matchResources(b.match, req, opts))) continue;
          let params: unknown[];
          try {
            params = await collectParams(policy, b.paramRef, req, opts.params);
          } catch (err) {
            if (!(err instanceof ConfigError)) throw err;
            configError(policy, b, err.message);
            continue;
          }
          if (params.length === 0) continue;
          const namespace = await namespaceObj();
          for (const p of params) {
            const budget = new CelBudget({ limit: ADMISSION_REQUEST_BUDGET, timeoutMs: ADMISSION_TIMEOUT_MS });
            const vars = lazyVariables(policy, { ...base, params: p, namespaceObject: namespace }, budget);
            const result = validate(policy, vars, budget);
            for (const [k, v] of result.annotations) (annotations.get(k) ?? annotations.set(k, new Set()).get(k)!).add(v);
            for (const d of result.denials) {
              for (const action of b.validationActions) {
                switch (action) {
                  case 'Deny':
                    denied.push({ policy: policy.name, binding: b.name, message: d.message, reason: d.reason });
                    break;
                  case 'Warn':
                    req.warnings?.push(`Validation failed for ValidatingAdmissionPolicy '${policy.name}' with binding '${b.name}': ${d.message}`);
                    break;
                  case 'Audit':
                    auditFailures.push({ message: d.message, policy: policy.name, binding: b.name, expressionIndex: d.index, validationActions: b.validationActions });
                    break;
                  default:
                    break;
                }
              }
            }
          }
        }
        for (const [k, values] of annotations) auditAnnotate(`${policy.name}/${k}`, [...values].join(', '));
      }
      // upstream's one annotation: every Audit-action failure of the request, as a JSON list
      if (auditFailures.length > 0) auditAnnotate(VALIDATION_FAILURE_ANNOTATION, JSON.stringify(auditFailures));
      const first = denied[0];
      if (!first) return;
      const by = first.binding ? `ValidatingAdmissionPolicy '${first.policy}' with binding '${first.binding}' denied request: ${first.message}` : `ValidatingAdmissionPolicy '${first.policy}' denied request: ${first.message}`;
      const name = req.name || req.object?.metadata?.name || '';
      throw new HedgeError(REASON_CODES[first.reason] ?? 'Invalid', forbiddenMessage({ def: req.def, name }, by), {
        details: { kind: req.def.plural, group: req.def.group, name: name || undefined, causes: [{ field: '', reason: '', message: by }] },
      });
    },
  };
}
