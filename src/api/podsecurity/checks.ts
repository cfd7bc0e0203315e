import type { Container, PodSpec, SecurityContext, PodSecurityContext } from 'kubernetes-types/core/v1.js';

/** The Pod Security Standards levels (upstream k8s.io/pod-security-admission/api). */
export type Level = 'privileged' | 'baseline' | 'restricted';
export const LEVELS: readonly Level[] = ['privileged', 'baseline', 'restricted'];

/**
 * A policy version: `v1.N` evaluates the checks as they were in Kubernetes 1.N (a check added
 * later is not applied, an allowance added later is not given); `latest` is every check as of
 * now. Upstream: k8s.io/pod-security-admission/policy, each check registered per version.
 */
export type PolicyVersion = { minor: number; label: string } | 'latest';

/** upstream api.ParseVersion: "" and "latest" are latest; otherwise `v1.N`; anything else is an error (and evaluates as latest) */
export function parseVersion(v: string | undefined): { version: PolicyVersion; error?: string } {
  if (v === undefined || v === '' || v === 'latest') return { version: 'latest' };
  const m = /^v1\.(0|[1-9][0-9]*)$/.exec(v);
  if (!m) return { version: 'latest', error: `must be "latest" or "v1.x"` };
  const minor = Number(m[1]);
  return Number.isSafeInteger(minor) ? { version: { minor, label: v } } : { version: 'latest', error: `must be "latest" or "v1.x"` };
}

export function versionLabel(v: PolicyVersion): string {
  return v === 'latest' ? 'latest' : v.label;
}

/** the check (or allowance) exists at policy version `v`: it came in Kubernetes 1.`since` */
const since = (v: PolicyVersion, minor: number): boolean => v === 'latest' || v.minor >= minor;

/** One failed check: upstream's forbidden reason and detail, printed as `reason (detail)`. */
export interface Violation {
  reason: string;
  detail: string;
}

interface PodLike {
  metadata?: { annotations?: Record<string, string> };
  spec?: PodSpec;
}

type Named = { name: string; sc?: SecurityContext };

function containersOf(spec: PodSpec): Named[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...((spec.ephemeralContainers ?? []) as Container[])].map((c) => ({ name: c.name, sc: c.securityContext }));
}

/** upstream's `container "a"` / `containers "a", "b"` */
function pluralize(singular: string, plural: string, names: string[]): string {
  return `${names.length === 1 ? singular : plural} ${names.map((n) => JSON.stringify(n)).join(', ')}`;
}

/** Capabilities a baseline container may add (the container runtime's default set). */
const BASELINE_CAPS = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
/** safe sysctls and the version that allowed each (upstream sysctls check: v1.0, v1.27, v1.29) */
const SAFE_SYSCTLS = new Map<string, number>([
  ['kernel.shm_rmid_forced', 0], ['net.ipv4.ip_local_port_range', 0], ['net.ipv4.ip_unprivileged_port_start', 0], ['net.ipv4.tcp_syncookies', 0], ['net.ipv4.ping_group_range', 0],
  ['net.ipv4.ip_local_reserved_ports', 27],
  ['net.ipv4.tcp_keepalive_time', 29], ['net.ipv4.tcp_fin_timeout', 29], ['net.ipv4.tcp_keepalive_intvl', 29], ['net.ipv4.tcp_keepalive_probes', 29],
]);
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

function baseline(pod: PodLike, spec: PodSpec, cs: Named[], psc: PodSecurityContext, v: PolicyVersion): Violation[] {
  const out: Violation[] = [];
  const hostNs = [spec.hostNetwork && 'hostNetwork=true', spec.hostPID && 'hostPID=true', spec.hostIPC && 'hostIPC=true'].filter((x): x is string => !!x);
  if (hostNs.length) out.push({ reason: 'host namespaces', detail: hostNs.join(', ') });
  const privileged = cs.filter((c) => c.sc?.privileged === true).map((c) => c.name);
  if (privileged.length) out.push({ reason: 'privileged', detail: `${pluralize('container', 'containers', privileged)} must not set securityContext.privileged=true` });
  const capDetails: string[] = [];
  for (const c of cs) {
    const bad = (c.sc?.capabilities?.add ?? []).filter((cap) => !BASELINE_CAPS.has(cap));
    if (bad.length) capDetails.push(`container ${JSON.stringify(c.name)} must not include ${bad.map((b) => JSON.stringify(b)).join(', ')} in securityContext.capabilities.add`);
  }
  if (capDetails.length) out.push({ reason: 'non-default capabilities', detail: capDetails.join('; ') });
  const hostPaths = (spec.volumes ?? []).filter((v) => v.hostPath).map((v) => v.name);
  if (hostPaths.length) out.push({ reason: 'hostPath volumes', detail: pluralize('volume', 'volumes', hostPaths) });
  const portDetails: string[] = [];
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    const ports = (c.ports ?? []).map((p) => p.hostPort).filter((p): p is number => !!p);
    if (ports.length) portDetails.push(`${pluralize('container', 'containers', [c.name])} uses ${ports.length === 1 ? 'hostPort' : 'hostPorts'} ${ports.join(', ')}`);
  }
  if (portDetails.length) out.push({ reason: 'hostPort', detail: portDetails.join('; ') });
  const badAppArmor = Object.entries(pod.metadata?.annotations ?? {})
    .filter(([k, v]) => k.startsWith('container.apparmor.security.beta.kubernetes.io/') && v !== 'runtime/default' && !v.startsWith('localhost/'))
    .map(([k, v]) => `${k}="${v}"`);
  // the appArmorProfile fields are checked from v1.30 (when they came); the annotations always
  const apparmorTypes = since(v, 30) ? [psc.appArmorProfile?.type, ...cs.map((c) => c.sc?.appArmorProfile?.type)].filter((t) => t === 'Unconfined') : [];
  if (badAppArmor.length || apparmorTypes.length) out.push({ reason: 'forbidden AppArmor profile', detail: badAppArmor.length ? badAppArmor.join(', ') : 'Unconfined' });
  const selinuxBad = [psc.seLinuxOptions, ...cs.map((c) => c.sc?.seLinuxOptions)].some(
    (o) => o && ((o.type && !['container_t', 'container_init_t', 'container_kvm_t', ...(since(v, 31) ? ['container_engine_t'] : [])].includes(o.type)) || o.user || o.role),
  );
  if (selinuxBad) out.push({ reason: 'seLinuxOptions', detail: 'forbidden securityContext.seLinuxOptions: type, user or role' });
  const procMount = cs.filter((c) => c.sc?.procMount && c.sc.procMount !== 'Default').map((c) => c.name);
  if (procMount.length) out.push({ reason: 'procMount', detail: `${pluralize('container', 'containers', procMount)} must not set securityContext.procMount to "Unmasked"` });
  if (since(v, 19)) {
    const unconfined: string[] = [];
    if (psc.seccompProfile?.type === 'Unconfined') unconfined.push('pod');
    const cUnconfined = cs.filter((c) => c.sc?.seccompProfile?.type === 'Unconfined').map((c) => c.name);
    if (cUnconfined.length) unconfined.push(pluralize('container', 'containers', cUnconfined));
    if (unconfined.length) out.push({ reason: 'seccompProfile', detail: `${unconfined.join(' and ')} must not set securityContext.seccompProfile.type to "Unconfined"` });
  } else {
    // before the fields (v1.0–v1.18) the profile was an annotation
    const bad = Object.entries(pod.metadata?.annotations ?? {})
      .filter(([k, val]) => (k === 'seccomp.security.alpha.kubernetes.io/pod' || k.startsWith('container.seccomp.security.alpha.kubernetes.io/')) && val === 'unconfined')
      .map(([k, val]) => `${k}="${val}"`);
    if (bad.length) out.push({ reason: 'seccompProfile', detail: `forbidden annotations ${bad.join(', ')}` });
  }
  const sysctls = (psc.sysctls ?? []).map((s) => s.name).filter((n) => {
    const from = SAFE_SYSCTLS.get(n);
    return from === undefined || !since(v, from);
  });
  if (sysctls.length) out.push({ reason: 'forbidden sysctls', detail: sysctls.join(', ') });
  return out;
}

function restricted(spec: PodSpec, cs: Named[], psc: PodSecurityContext, v: PolicyVersion): Violation[] {
  const out: Violation[] = [];
  const volDetails = (spec.volumes ?? []).flatMap((v) => {
    const type = Object.keys(v).find((k) => k !== 'name');
    return type && !RESTRICTED_VOLUMES.has(type) ? [`volume ${JSON.stringify(v.name)} uses restricted volume type ${JSON.stringify(type)}`] : [];
  });
  if (volDetails.length) out.push({ reason: 'restricted volume types', detail: volDetails.join('; ') });
  // allowPrivilegeEscalation since v1.8, capabilities since v1.22, runAsUser since v1.23, seccomp since v1.19
  const escalating = since(v, 8) ? cs.filter((c) => c.sc?.allowPrivilegeEscalation !== false).map((c) => c.name) : [];
  if (escalating.length) out.push({ reason: 'allowPrivilegeEscalation != false', detail: `${pluralize('container', 'containers', escalating)} must set securityContext.allowPrivilegeEscalation=false` });
  const capDetails: string[] = [];
  const noDrop = since(v, 22) ? cs.filter((c) => !(c.sc?.capabilities?.drop ?? []).includes('ALL')).map((c) => c.name) : [];
  if (noDrop.length) capDetails.push(`${pluralize('container', 'containers', noDrop)} must set securityContext.capabilities.drop=["ALL"]`);
  for (const c of since(v, 22) ? cs : []) {
    const bad = (c.sc?.capabilities?.add ?? []).filter((cap) => cap !== 'NET_BIND_SERVICE');
    if (bad.length) capDetails.push(`container ${JSON.stringify(c.name)} must not include ${bad.map((b) => JSON.stringify(b)).join(', ')} in securityContext.capabilities.add`);
  }
  if (capDetails.length) out.push({ reason: 'unrestricted capabilities', detail: capDetails.join('; ') });
  // runAsNonRoot: explicit false anywhere fails; otherwise the pod or every container must say true
  const explicitFalse = [psc.runAsNonRoot === false ? 'pod' : '', ...cs.filter((c) => c.sc?.runAsNonRoot === false).map((c) => `container ${JSON.stringify(c.name)}`)].filter(Boolean);
  const unset = psc.runAsNonRoot === true ? [] : cs.filter((c) => c.sc?.runAsNonRoot === undefined).map((c) => c.name);
  if (explicitFalse.length) out.push({ reason: 'runAsNonRoot != true', detail: `${explicitFalse.join(' and ')} must not set securityContext.runAsNonRoot=false` });
  else if (unset.length) out.push({ reason: 'runAsNonRoot != true', detail: `pod or ${pluralize('container', 'containers', unset)} must set securityContext.runAsNonRoot=true` });
  const root = !since(v, 23) ? [] : [psc.runAsUser === 0 ? 'pod' : '', ...cs.filter((c) => c.sc?.runAsUser === 0).map((c) => `container ${JSON.stringify(c.name)}`)].filter(Boolean);
  if (root.length) out.push({ reason: 'runAsUser=0', detail: `${root.join(' and ')} must not set runAsUser=0` });
  const podSeccompOk = psc.seccompProfile?.type === 'RuntimeDefault' || psc.seccompProfile?.type === 'Localhost';
  const noSeccomp = !since(v, 19) ? [] : cs.filter((c) => {
    const t = c.sc?.seccompProfile?.type;
    return t === undefined ? !podSeccompOk : t !== 'RuntimeDefault' && t !== 'Localhost' && t !== 'Unconfined';
  }).map((c) => c.name);
  if (noSeccomp.length) out.push({ reason: 'seccompProfile', detail: `pod or ${pluralize('container', 'containers', noSeccomp)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"` });
  return out;
}

/** Every check of `level` at `version` (default latest) the pod fails, in upstream's order (baseline checks first). */
export function checkPod(pod: PodLike, level: Level, version: PolicyVersion = 'latest'): Violation[] {
  if (level === 'privileged') return [];
  const spec = pod.spec ?? { containers: [] };
  const cs = containersOf(spec);
  const psc = spec.securityContext ?? {};
  const out = baseline(pod, spec, cs, psc, version);
  if (level === 'restricted') out.push(...restricted(spec, cs, psc, version));
  return out;
}

/** `violates PodSecurity "restricted:latest": privileged (container "c" must ...), ...` */
export function formatViolations(level: Level, version: string, violations: readonly Violation[]): string {
  return `PodSecurity "${level}:${version}": ${violations.map((v) => `${v.reason} (${v.detail})`).join(', ')}`;
}
