import { ADMISSION_PER_CALL_LIMIT, CelBudget, CelEvalError, jsonToCel, type CelProgram } from '../../api/cel/index.ts';
import type { KubeObject } from '../../api/object.ts';
import { admissionKind, type AdmissionRequest } from './types.ts';

/** the group/version/kind/resource the expression sees the object in (matchPolicy Equivalent may pick another served version) */
export interface CelMatchedVersion {
  group: string;
  version: string;
  kind: string;
  resource: string;
}

/**
 * The variables every admission expression sees (upstream cel.CreateAdmissionRequest and the
 * activation of k8s.io/apiserver/pkg/admission/plugin/cel): `object` and `oldObject` (null when
 * there is none), `request` with every field of an AdmissionRequest present, as Go's typed struct
 * shows them (zero values, empty lists).
 */
export function admissionActivation(req: AdmissionRequest, matched: CelMatchedVersion): { object: unknown; oldObject: unknown; request: Record<string, unknown> } {
  const def = req.def;
  // a subresource's own type (a Scale, an Eviction) is shown as it is, whichever version matched
  const own = req.kind === undefined;
  const inVersion = (o: KubeObject | undefined): unknown => {
    if (!o) return null;
    const shown = !own || matched.version === def.version || typeof o.apiVersion !== 'string' ? o : { ...o, apiVersion: matched.group ? `${matched.group}/${matched.version}` : matched.version };
    return jsonToCel(shown);
  };
  return {
    object: inVersion(req.object),
    oldObject: inVersion(req.oldObject),
    request: {
      kind: own ? { group: matched.group, version: matched.version, kind: matched.kind } : admissionKind(req),
      resource: { group: matched.group, version: matched.version, resource: matched.resource },
      subResource: req.subresource,
      requestKind: admissionKind(req),
      requestResource: { group: def.group, version: def.version, resource: def.plural },
      requestSubResource: req.subresource,
      name: req.name,
      namespace: req.namespace,
      operation: req.operation,
      userInfo: { username: req.user.username, uid: req.user.uid ?? '', groups: [...req.user.groups], extra: {} },
      dryRun: req.dryRun,
    },
  };
}

/** A compiled match condition (webhooks and policies share upstream's matchconditions.Matcher). */
export interface CompiledMatchCondition {
  name: string;
  program: CelProgram;
}

export type MatchConditionsResult = { matches: true } | { matches: false; failedCondition: string } | { matches: false; error: string };

/**
 * upstream matchconditions.Matcher: any condition false → no match (even when others erred);
 * otherwise any error → an error (the caller's failurePolicy decides); else a match. The errors
 * read `expression '<expr>' resulted in error: <what>`, several joined as an aggregate `[a, b]`.
 */
export function evaluateMatchConditions(conditions: readonly CompiledMatchCondition[], vars: Record<string, unknown>, budget: CelBudget): MatchConditionsResult {
  const errors: string[] = [];
  for (const c of conditions) {
    let got: unknown;
    try {
      got = c.program.evaluate(vars, budget.child(ADMISSION_PER_CALL_LIMIT));
    } catch (e) {
      if (!(e instanceof CelEvalError)) throw e;
      errors.push(`expression '${c.program.source}' resulted in error: ${e.message}`);
      continue;
    }
    if (got === false) return { matches: false, failedCondition: c.name };
    if (got !== true) errors.push(`expression '${c.program.source}' resulted in error: expected bool, got ${typeName(got)}`);
  }
  if (errors.length === 0) return { matches: true };
  return { matches: false, error: errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]` };
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'null_type';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return 'double';
  if (typeof v === 'string') return 'string';
  if (Array.isArray(v)) return 'list';
  return 'map';
}

/** upstream apierrors.NewForbidden's message: `<resource>[.<group>] ["<name>"] is forbidden: <err>` */
export function forbiddenMessage(req: Pick<AdmissionRequest, 'def' | 'name'>, err: string): string {
  const gr = req.def.group ? `${req.def.plural}.${req.def.group}` : req.def.plural;
  return req.name ? `${gr} ${JSON.stringify(req.name)} is forbidden: ${err}` : `${gr} is forbidden: ${err}`;
}
