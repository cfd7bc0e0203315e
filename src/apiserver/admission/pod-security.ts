import type { KubeObject } from '../../api/object.ts';
import { checkPod, formatViolations, LEVELS, parseVersion, versionLabel, type Level, type PolicyVersion } from '../../api/podsecurity/checks.ts';
import { HedgeError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { AdmissionPlugin } from './types.ts';

export const PSA_LABEL_PREFIX = 'pod-security.kubernetes.io/';

/** Cluster-wide defaults and exemptions (upstream's PodSecurityConfiguration). */
export interface PodSecurityConfig {
  /** level for namespaces without an `enforce` label (upstream default: privileged) */
  enforce?: Level;
  /** level for namespaces without a `warn` label (default: same as `enforce`) */
  warn?: Level;
  /** level for namespaces without an `audit` label (default: same as `enforce`) */
  audit?: Level;
  exemptions?: { usernames?: string[]; namespaces?: string[]; runtimeClasses?: string[] };
}

const isLevel = (v: string | undefined): v is Level => v !== undefined && (LEVELS as readonly string[]).includes(v);

/**
 * Pod Security admission: a pod is checked against its namespace's
 * `pod-security.kubernetes.io/enforce|warn|audit` levels (labels, else the cluster defaults);
 * `enforce` refuses it with upstream's message, `warn` adds a `Warning` kubectl prints, `audit`
 * logs it. Exempt usernames, namespaces and RuntimeClasses skip all three. A `-version` label
 * (`v1.N`) evaluates the checks as Kubernetes 1.N had them. As upstream, a label that does not
 * parse is evaluated as `restricted` (a level) or `latest` (a version); here with a warning that
 * names the label, so the namespace owner sees why.
 */
export function podSecurityPlugin(opts: PodSecurityConfig & { getNamespace(name: string): Promise<KubeObject | undefined>; logger: Logger }): AdmissionPlugin {
  const enforceDefault = opts.enforce ?? 'privileged';
  const ex = opts.exemptions ?? {};
  return {
    name: 'PodSecurity',
    async validate(req) {
      if (req.def.group !== '' || req.def.plural !== 'pods' || !req.object) return;
      // a pod is checked when created, and again when an ephemeral container is added to it (a
      // privileged `kubectl debug` container is refused where a privileged pod would be)
      const ephemeral = req.subresource === 'ephemeralcontainers' && req.operation === 'UPDATE';
      if (!ephemeral && (req.subresource !== '' || req.operation !== 'CREATE')) return;
      // upstream's audit annotations: which exemption let the pod through, else the enforced policy
      // and what the audit level would refuse
      const annotate = (key: string, value: string): void => {
        if (req.auditAnnotations) req.auditAnnotations[`${PSA_LABEL_PREFIX}${key}`] = value;
      };
      if (ex.usernames?.includes(req.user.username)) return annotate('exempt', 'user');
      if (ex.namespaces?.includes(req.namespace)) return annotate('exempt', 'namespace');
      const pod = req.object as { metadata?: { annotations?: Record<string, string> }; spec?: { runtimeClassName?: string } };
      if (pod.spec?.runtimeClassName && ex.runtimeClasses?.includes(pod.spec.runtimeClassName)) return annotate('exempt', 'runtimeClass');
      const labels = (await opts.getNamespace(req.namespace))?.metadata.labels ?? {};
      const labelErrors: string[] = [];
      const mode = (m: 'enforce' | 'warn' | 'audit', fallback: Level): { level: Level; version: PolicyVersion } => {
        const lk = `${PSA_LABEL_PREFIX}${m}`;
        const l = labels[lk];
        let level = fallback;
        if (l !== undefined) {
          if (isLevel(l)) level = l;
          else {
            level = 'restricted';
            labelErrors.push(`${lk}=${JSON.stringify(l)}: must be one of ${LEVELS.join(', ')} (evaluated as restricted)`);
          }
        }
        const vk = `${lk}-version`;
        const parsed = parseVersion(labels[vk]);
        if (parsed.error) labelErrors.push(`${vk}=${JSON.stringify(labels[vk])}: ${parsed.error} (evaluated as latest)`);
        return { level, version: parsed.version };
      };
      const enforce = mode('enforce', enforceDefault);
      const warn = mode('warn', opts.warn ?? enforce.level);
      const audit = mode('audit', opts.audit ?? enforce.level);
      for (const e of labelErrors) req.warnings?.push(`namespace ${JSON.stringify(req.namespace)} has an invalid Pod Security label ${e}`);
      if (labelErrors.length) opts.logger.warn({ namespace: req.namespace, errors: labelErrors }, 'invalid Pod Security labels');
      const same = (a: { level: Level; version: PolicyVersion }): boolean => a.level === enforce.level && versionLabel(a.version) === versionLabel(enforce.version);
      annotate('enforce-policy', `${enforce.level}:${versionLabel(enforce.version)}`);
      const enforced = checkPod(req.object as never, enforce.level, enforce.version);
      if (enforced.length) {
        throw new HedgeError('Forbidden', `pods "${req.name}" is forbidden: violates ${formatViolations(enforce.level, versionLabel(enforce.version), enforced)}`, {
          details: { kind: 'pods', name: req.name },
        });
      }
      const warned = same(warn) ? [] : checkPod(req.object as never, warn.level, warn.version);
      if (warned.length) req.warnings?.push(`would violate ${formatViolations(warn.level, versionLabel(warn.version), warned)}`);
      const audited = same(audit) ? [] : checkPod(req.object as never, audit.level, audit.version);
      if (audited.length) annotate('audit-violations', `would violate ${formatViolations(audit.level, versionLabel(audit.version), audited)}`);
      if (audited.length) opts.logger.info({ audit: true, namespace: req.namespace, pod: req.name, user: req.user.username }, `would violate ${formatViolations(audit.level, versionLabel(audit.version), audited)}`);
    },
  };
}
