import type { KubeObject } from '../../api/object.ts';
import { checkPod, formatViolations, LEVELS, type Level } from '../../api/podsecurity/checks.ts';
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
 * logs it. Exempt usernames, namespaces and RuntimeClasses skip all three. Only `latest` checks
 * exist, so a `-version` label is echoed but any version evaluates as latest.
 */
export function podSecurityPlugin(opts: PodSecurityConfig & { getNamespace(name: string): Promise<KubeObject | undefined>; logger: Logger }): AdmissionPlugin {
  const enforceDefault = opts.enforce ?? 'privileged';
  const ex = opts.exemptions ?? {};
  return {
    name: 'PodSecurity',
    async validate(req) {
      if (req.def.group !== '' || req.def.plural !== 'pods' || req.subresource !== '' || req.operation !== 'CREATE' || !req.object) return;
      if (ex.usernames?.includes(req.user.username) || ex.namespaces?.includes(req.namespace)) return;
      const pod = req.object as { metadata?: { annotations?: Record<string, string> }; spec?: { runtimeClassName?: string } };
      if (pod.spec?.runtimeClassName && ex.runtimeClasses?.includes(pod.spec.runtimeClassName)) return;
      const labels = (await opts.getNamespace(req.namespace))?.metadata.labels ?? {};
      const mode = (m: 'enforce' | 'warn' | 'audit', fallback: Level): { level: Level; version: string } => {
        const l = labels[`${PSA_LABEL_PREFIX}${m}`];
        return { level: isLevel(l) ? l : fallback, version: labels[`${PSA_LABEL_PREFIX}${m}-version`] || 'latest' };
      };
      const enforce = mode('enforce', enforceDefault);
      const warn = mode('warn', opts.warn ?? enforce.level);
      const audit = mode('audit', opts.audit ?? enforce.level);
      const enforced = checkPod(req.object as never, enforce.level);
      if (enforced.length) {
        throw new HedgeError('Forbidden', `pods "${req.name}" is forbidden: violates ${formatViolations(enforce.level, enforce.version, enforced)}`, {
          details: { kind: 'pods', name: req.name },
        });
      }
      const warned = warn.level === enforce.level ? [] : checkPod(req.object as never, warn.level);
      if (warned.length) req.warnings?.push(`would violate ${formatViolations(warn.level, warn.version, warned)}`);
      const audited = audit.level === enforce.level ? [] : checkPod(req.object as never, audit.level);
      if (audited.length) opts.logger.info({ audit: true, namespace: req.namespace, pod: req.name, user: req.user.username }, `would violate ${formatViolations(audit.level, audit.version, audited)}`);
    },
  };
}
