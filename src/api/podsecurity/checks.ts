import type { Container, PodSpec, SecurityContext, PodSecurityContext } from 'kubernetes-types/core/v1.js';

/** The Pod Security Standards levels (upstream k8s.io/pod-security-admission/api). */
export type Level = 'privileged' | 'baseline' | 'restricted';
export const LEVELS: readonly Level[] = ['privileged', 'baseline', 'restricted'];

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
const SAFE_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']);
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

function baseline(pod: PodLike, spec: PodSpec, cs: Named[], psc: PodSecurityContext): Violation[] {
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
  const apparmorTypes = [psc.appArmorProfile?.type, ...cs.map((c) => c.sc?.appArmorProfile?.type)].filter((t) => t === 'Unconfined');
  if (badAppArmor.length || apparmorTypes.length) out.push({ reason: 'forbidden AppArmor profile', detail: badAppArmor.length ? badAppArmor.join(', ') : 'Unconfined' });
  const selinuxBad = [psc.seLinuxOptions, ...cs.map((c) => c.sc?.seLinuxOptions)].some(
    (o) => o && ((o.type && !['container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'].includes(o.type)) || o.user || o.role),
  );
  if (selinuxBad) out.push({ reason: 'seLinuxOptions', detail: 'forbidden securityContext.seLinuxOptions: type, user or role' });
  const procMount = cs.filter((c) => c.sc?.procMount && c.sc.procMount !== 'Default').map((c) => c.name);
  if (procMount.length) out.push({ reason: 'procMount', detail: `${pluralize('container', 'containers', procMount)} must not set securityContext.procMount to "Unmasked"` });
  const unconfined: string[] = [];
  if (psc.seccompProfile?.type === 'Unconfined') unconfined.push('pod');
  const cUnconfined = cs.filter((c) => c.sc?.seccompProfile?.type === 'Unconfined').map((c) => c.name);
  if (cUnconfined.length) unconfined.push(pluralize('container', 'containers', cUnconfined));
  if (unconfined.length) out.push({ reason: 'seccompProfile', detail: `${unconfined.join(' and ')} must not set securityContext.seccompProfile.type to "Unconfined"` });
  const sysctls = (psc.sysctls ?? []).map((s) => s.name).filter((n) => !SAFE_SYSCTLS.has(n));
  if (sysctls.length) out.push({ reason: 'forbidden sysctls', detail: sysctls.join(', ') });
  return out;
}

function restricted(spec: PodSpec, cs: Named[], psc: PodSecurityContext): Violation[] {
  const out: Violation[] = [];
  const volDetails = (spec.volumes ?? []).flatMap((v) => {
    const type = Object.keys(v).find((k) => k !== 'name');
    return type && !RESTRICTED_VOLUMES.has(type) ? [`volume ${JSON.stringify(v.name)} uses restricted volume type ${JSON.stringify(type)}`] : [];
  });
  if (volDetails.length) out.push({ reason: 'restricted volume types', detail: volDetails.join('; ') });
  const escalating = cs.filter((c) => c.sc?.allowPrivilegeEscalation !== false).map((c) => c.name);
  if (escalating.length) out.push({ reason: 'allowPrivilegeEscalation != false', detail: `${pluralize('container', 'containers', escalating)} must set securityContext.allowPrivilegeEscalation=false` });
  const capDetails: string[] = [];
  const noDrop = cs.filter((c) => !(c.sc?.capabilities?.drop ?? []).includes('ALL')).map((c) => c.name);
  if (noDrop.length) capDetails.push(`${pluralize('container', 'containers', noDrop)} must set securityContext.capabilities.drop=["ALL"]`);
  for (const c of cs) {
    const bad = (c.sc?.capabilities?.add ?? []).filter((cap) => cap !== 'NET_BIND_SERVICE');
    if (bad.length) capDetails.push(`container ${JSON.stringify(c.name)} must not include ${bad.map((b) => JSON.stringify(b)).join(', ')} in securityContext.capabilities.add`);
  }
  if (capDetails.length) out.push({ reason: 'unrestricted capabilities', detail: capDetails.join('; ') });
  // runAsNonRoot: explicit false anywhere fails; otherwise the pod or every container must say true
  const explicitFalse = [psc.runAsNonRoot === false ? 'pod' : '', ...cs.filter((c) => c.sc?.runAsNonRoot === false).map((c) => `container ${JSON.stringify(c.name)}`)].filter(Boolean);
  const unset = psc.runAsNonRoot === true ? [] : cs.filter((c) => c.sc?.runAsNonRoot === undefined).map((c) => c.name);
  if (explicitFalse.length) out.push({ reason: 'runAsNonRoot != true', detail: `${explicitFalse.join(' and ')} must not set securityContext.runAsNonRoot=false` });
  else if (unset.length) out.push({ reason: 'runAsNonRoot != true', detail: `pod or ${pluralize('container', 'containers', unset)} must set securityContext.runAsNonRoot=true` });
  const root = [psc.runAsUser === 0 ? 'pod' : '', ...cs.filter((c) => c.sc?.runAsUser === 0).map((c) => `container ${JSON.stringify(c.name)}`)].filter(Boolean);
  if (root.length) out.push({ reason: 'runAsUser=0', detail: `${root.join(' and ')} must not set runAsUser=0` });
  const podSeccompOk = psc.seccompProfile?.type === 'RuntimeDefault' || psc.seccompProfile?.type === 'Localhost';
  const noSeccomp = cs.filter((c) => {
    const t = c.sc?.seccompProfile?.type;
    return t === undefined ? !podSeccompOk : t !== 'RuntimeDefault' && t !== 'Localhost' && t !== 'Unconfined';
  }).map((c) => c.name);
  if (noSeccomp.length) out.push({ reason: 'seccompProfile', detail: `pod or ${pluralize('container', 'containers', noSeccomp)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"` });
  return out;
}

/** Every check of `level` the pod fails, in upstream's order (baseline checks first). */
export function checkPod(pod: PodLike, level: Level): Violation[] {
  if (level === 'privileged') return [];
  const spec = pod.spec ?? { containers: [] };
  const cs = containersOf(spec);
  const psc = spec.securityContext ?? {};
  const out = baseline(pod, spec, cs, psc);
  if (level === 'restricted') out.push(...restricted(spec, cs, psc));
  return out;
}

/** `violates PodSecurity "restricted:latest": privileged (container "c" must ...), ...` */
export function formatViolations(level: Level, version: string, violations: readonly Violation[]): string {
  return `PodSecurity "${level}:${version}": ${violations.map((v) => `${v.reason} (${v.detail})`).join(', ')}`;
}
