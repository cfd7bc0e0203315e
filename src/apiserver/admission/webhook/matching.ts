import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import { isEverything, matches, selectorFromLabelSelector, type Selector } from '../../../api/labels/index.ts';
import type { KubeObject } from '../../../api/object.ts';
import type { Webhook, WebhookRule } from '../../../api/validation/admission-registration.ts';
import type { AdmissionOperation } from '../types.ts';

/** group/version/resource/subresource of a request as a webhook rule sees it (upstream admission.Attributes) */
export interface RuleTarget {
  operation: AdmissionOperation;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  namespace: string;
}

const wild = (list: readonly string[] | undefined, value: string): boolean => (list ?? []).some((v) => v === '*' || v === value);

/** `pods` → ['pods', ''], `pods/status` → ['pods', 'status'], `* /*` → ['*', '*'] */
function splitResource(r: string): [string, string] {
  const i = r.indexOf('/');
  return i < 0 ? [r, ''] : [r.slice(0, i), r.slice(i + 1)];
}

const isNamespaceResource = (t: Pick<RuleTarget, 'group' | 'resource'>): boolean => t.group === '' && t.resource === 'namespaces';

/** upstream rules.Matcher: operation, group, version, resource/subresource (with `*` wildcards) and scope */
export function ruleMatches(rule: WebhookRule, t: RuleTarget): boolean {
  if (!wild(rule.operations, t.operation)) return false;
  if (!wild(rule.apiGroups, t.group) || !wild(rule.apiVersions, t.version)) return false;
  const resourceOk = (rule.resources ?? []).some((r) => {
    const [res, sub] = splitResource(r);
    return (res === '*' || res === t.resource) && (sub === '*' || sub === t.subresource);
  });
  if (!resourceOk) return false;
  switch (rule.scope ?? '*') {
    case 'Namespaced':
      // a Namespace is itself cluster-scoped
      return !isNamespaceResource(t) && t.namespace !== '';
    case 'Cluster':
      return isNamespaceResource(t) || t.namespace === '';
    default:
      return true;
  }
}

export const anyRuleMatches = (hook: Pick<Webhook, 'rules'>, t: RuleTarget): boolean => (hook.rules ?? []).some((r) => ruleMatches(r, t));

/**
 * The configurations themselves are never sent to webhooks (upstream
 * IsExemptAdmissionConfigurationResource): a broken webhook could otherwise lock out its own fix.
 */
export function isExemptResource(group: string, resource: string): boolean {
  return (
    group === 'admissionregistration.k8s.io' &&
    ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations', 'validatingadmissionpolicies', 'validatingadmissionpolicybindings', 'mutatingadmissionpolicies', 'mutatingadmissionpolicybindings'].includes(resource)
  );
}

/** A selector parsed once per configuration revision; an absent selector matches everything (the v1 default `{}`). */
export function parseWebhookSelector(ls: LabelSelector | undefined): Selector {
  return selectorFromLabelSelector(ls ?? {});
}

/**
 * upstream namespace.Matcher: requests for cluster-scoped objects other than Namespaces always
 * match; a Namespace request matches on the Namespace's own labels (the old object on DELETE);
 * anything else on the labels of its namespace (`nsLabels` is only asked when the selector is not empty).
 */
export async function namespaceSelectorMatches(
  sel: Selector,
  t: RuleTarget,
  obj: { object?: KubeObject; oldObject?: KubeObject; name: string },
  nsLabels: (name: string) => Promise<Record<string, string> | undefined>,
): Promise<boolean> {
  if (t.namespace === '' && t.resource !== 'namespaces') return true;
  if (isEverything(sel)) return true;
  if (isNamespaceResource(t)) {
    const own = t.operation === 'DELETE' || t.operation === 'CONNECT' ? (obj.oldObject ?? obj.object) : (obj.object ?? obj.oldObject);
    return matches(sel, own?.metadata.labels ?? (await nsLabels(obj.name)));
  }
  return matches(sel, await nsLabels(t.namespace));
}

/** upstream object.Matcher: the new or the old object's labels match (a request with neither matches only `{}`) */
export function objectSelectorMatches(sel: Selector, object: KubeObject | undefined, oldObject: KubeObject | undefined): boolean {
  if (isEverything(sel)) return true;
  const hit = (o: KubeObject | undefined): boolean => o !== undefined && typeof o.metadata === 'object' && o.metadata !== null && matches(sel, o.metadata.labels);
  return hit(object) || hit(oldObject);
}
