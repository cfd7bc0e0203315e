import type { Container, Pod, PodSpec, Probe, Toleration, Volume } from 'kubernetes-types/core/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import type { KubeObject } from '../object.ts';
import { child, duplicate, forbidden, index, invalid, notFound, notSupported, required } from '../meta/field-errors.ts';
import {
  isDNS1123Label,
  isDNS1123Subdomain,
  isEnvVarName,
  isQualifiedName,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
} from '../meta/name-formats.ts';
import { validateLabels } from '../labels/validate.ts';
import { validateResourceRequirements } from './resources.ts';
import { validateAffinity, validateTopologySpreadConstraints } from './scheduling.ts';
import { validateClaimSpec } from './storage.ts';
import { semanticEqual, diffPaths } from './semantic.ts';

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const TERMINATION_MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError'];
const TAINT_EFFECTS = ['NoExecute', 'NoSchedule', 'PreferNoSchedule'];

function nonNegative(value: number | undefined, path: string, causes: FieldCause[]): void {
  if (value !== undefined && value < 0) causes.push(invalid(path, value, 'must be greater than or equal to 0'));
}

function validateProbe(probe: Probe | undefined, path: string, mustBeOne: boolean, causes: FieldCause[]): void {
  if (!probe) return;
  const handlers = (['exec', 'httpGet', 'tcpSocket', 'grpc'] as const).filter((h) => probe[h] !== undefined);
  if (handlers.length === 0) causes.push(required(path, 'must specify a handler type'));
  for (const h of handlers.slice(1)) causes.push(forbidden(child(path, h), 'may not specify more than 1 handler type'));
  nonNegative(probe.initialDelaySeconds, child(path, 'initialDelaySeconds'), causes);
  nonNegative(probe.timeoutSeconds, child(path, 'timeoutSeconds'), causes);
  nonNegative(probe.periodSeconds, child(path, 'periodSeconds'), causes);
  nonNegative(probe.successThreshold, child(path, 'successThreshold'), causes);
  nonNegative(probe.failureThreshold, child(path, 'failureThreshold'), causes);
  if (mustBeOne && probe.successThreshold !== undefined && probe.successThreshold !== 1) {
    causes.push(invalid(child(path, 'successThreshold'), probe.successThreshold, 'must be 1'));
  }
  const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
  if (port !== undefined) {
    const p = child(child(path, probe.httpGet ? 'httpGet' : 'tcpSocket'), 'port');
    const msgs = typeof port === 'number' ? isValidPortNum(port) : isValidPortName(port);
    for (const msg of msgs) causes.push(invalid(p, port, msg));
  }
}

function validateContainer(
  c: Container,
  path: string,
  volumes: Set<string>,
  names: Set<string>,
  isInit: boolean,
  causes: FieldCause[],
): void {
  const name = c.name ?? '';
  if (!name) causes.push(required(child(path, 'name')));
  else {
    for (const msg of isDNS1123Label(name)) causes.push(invalid(child(path, 'name'), name, msg));
    if (names.has(name)) causes.push(duplicate(child(path, 'name'), name));
    names.add(name);
  }
  if (!c.image) causes.push(required(child(path, 'image')));
  else if (c.image.trim() !== c.image) causes.push(invalid(child(path, 'image'), c.image, 'must not have leading or trailing whitespace'));
  if (c.imagePullPolicy !== undefined && !PULL_POLICIES.includes(c.imagePullPolicy)) {
    causes.push(notSupported(child(path, 'imagePullPolicy'), c.imagePullPolicy, PULL_POLICIES));
  }
  if (c.terminationMessagePolicy !== undefined && !TERMINATION_MESSAGE_POLICIES.includes(c.terminationMessagePolicy)) {
    causes.push(notSupported(child(path, 'terminationMessagePolicy'), c.terminationMessagePolicy, TERMINATION_MESSAGE_POLICIES));
  }
  const portNames = new Set<string>();
  (c.ports ?? []).forEach((p, i) => {
    const pp = index(child(path, 'ports'), i);
    if (p.name) {
      for (const msg of isValidPortName(p.name)) causes.push(invalid(child(pp, 'name'), p.name, msg));
      if (portNames.has(p.name)) causes.push(duplicate(child(pp, 'name'), p.name));
      portNames.add(p.name);
    }
    if (!p.containerPort) causes.push(required(child(pp, 'containerPort')));
    else for (const msg of isValidPortNum(p.containerPort)) causes.push(invalid(child(pp, 'containerPort'), p.containerPort, msg));
    if (p.hostPort) for (const msg of isValidPortNum(p.hostPort)) causes.push(invalid(child(pp, 'hostPort'), p.hostPort, msg));
    if (!p.protocol) causes.push(required(child(pp, 'protocol')));
    else if (!PROTOCOLS.includes(p.protocol)) causes.push(notSupported(child(pp, 'protocol'), p.protocol, PROTOCOLS));
  });
  (c.env ?? []).forEach((e, i) => {
    const ep = index(child(path, 'env'), i);
    if (!e.name) causes.push(required(child(ep, 'name')));
    else for (const msg of isEnvVarName(e.name)) causes.push(invalid(child(ep, 'name'), e.name, msg));
    if (e.valueFrom && e.value) {
      causes.push(invalid(child(ep, 'valueFrom'), '', 'may not be specified when `value` is not empty'));
    }
  });
  const mountPaths = new Set<string>();
  (c.volumeMounts ?? []).forEach((m, i) => {
    const mp = index(child(path, 'volumeMounts'), i);
    if (!m.name) causes.push(required(child(mp, 'name')));
    else if (!volumes.has(m.name)) causes.push(notFound(child(mp, 'name'), m.name));
    if (!m.mountPath) causes.push(required(child(mp, 'mountPath')));
    else {
      if (mountPaths.has(m.mountPath)) causes.push(invalid(child(mp, 'mountPath'), m.mountPath, 'must be unique'));
      mountPaths.add(m.mountPath);
    }
  });
  causes.push(...validateResourceRequirements(c.resources, child(path, 'resources')));
  if (isInit) {
    // init containers run to completion, so only restartable (sidecar) ones may have probes
    if (c.restartPolicy !== 'Always') {
      for (const f of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        if (c[f]) causes.push(forbidden(child(path, f), 'may not be set for init containers without restartPolicy=Always'));
      }
    }
    if (c.restartPolicy !== undefined && c.restartPolicy !== 'Always') causes.push(notSupported(child(path, 'restartPolicy'), c.restartPolicy, ['Always']));
  } else if (c.restartPolicy !== undefined) {
    causes.push(forbidden(child(path, 'restartPolicy'), 'may not be set for non-init containers'));
  }
  validateProbe(c.livenessProbe, child(path, 'livenessProbe'), true, causes);
  validateProbe(c.startupProbe, child(path, 'startupProbe'), true, causes);
  validateProbe(c.readinessProbe, child(path, 'readinessProbe'), false, causes);
}

function volumeSources(v: Volume): string[] {
  return Object.entries(v)
    .filter(([k, x]) => k !== 'name' && x !== undefined && x !== null)
    .map(([k]) => k);
}

export function validateTolerations(tolerations: Toleration[] | undefined, path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  (tolerations ?? []).forEach((t, i) => {
    const tp = index(path, i);
    if (t.key) for (const msg of isQualifiedName(t.key)) causes.push(invalid(child(tp, 'key'), t.key, msg));
    if (!t.key && t.operator !== 'Exists') {
      causes.push(invalid(child(tp, 'operator'), t.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    }
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') {
      causes.push(invalid(child(tp, 'effect'), t.effect ?? '', 'effect must be \'NoExecute\' when `tolerationSeconds` is set'));
    }
    switch (t.operator) {
      case undefined:
      case 'Equal':
        for (const msg of isValidLabelValue(t.value ?? '')) causes.push(invalid(child(tp, 'operator'), t.value ?? '', msg));
        break;
      case 'Exists':
        if (t.value) causes.push(invalid(child(tp, 'operator'), t.value, 'value must be empty when `operator` is \'Exists\''));
        break;
      default:
        causes.push(notSupported(child(tp, 'operator'), t.operator, ['Equal', 'Exists']));
    }
    if (t.effect && !TAINT_EFFECTS.includes(t.effect)) causes.push(notSupported(child(tp, 'effect'), t.effect, TAINT_EFFECTS));
  });
  return causes;
}

export function validatePodSpec(spec: PodSpec | undefined, path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  if (!spec) return [required(path)];
  const volumes = new Set<string>();
  (spec.volumes ?? []).forEach((v, i) => {
    const vp = index(child(path, 'volumes'), i);
    if (!v.name) causes.push(required(child(vp, 'name')));
    else {
      for (const msg of isDNS1123Label(v.name)) causes.push(invalid(child(vp, 'name'), v.name, msg));
      if (volumes.has(v.name)) causes.push(duplicate(child(vp, 'name'), v.name));
      volumes.add(v.name);
    }
    const sources = volumeSources(v);
    if (sources.length === 0) causes.push(required(vp, 'must specify a volume type'));
    for (const s of sources.slice(1)) causes.push(forbidden(child(vp, s), 'may not specify more than 1 volume type'));
    if (v.ephemeral) {
      // a generic ephemeral volume: its claim is made from this template (upstream's validateEphemeralVolumeSource)
      const tp = child(child(vp, 'ephemeral'), 'volumeClaimTemplate');
      const tmpl = v.ephemeral.volumeClaimTemplate;
      if (!tmpl) causes.push(required(tp));
      else causes.push(...validateClaimSpec(tmpl.spec, child(tp, 'spec')));
    }
  });
  const names = new Set<string>();
  (spec.initContainers ?? []).forEach((c, i) => validateContainer(c, index(child(path, 'initContainers'), i), volumes, names, true, causes));
  if (!spec.containers || spec.containers.length === 0) causes.push(required(child(path, 'containers')));
  (spec.containers ?? []).forEach((c, i) => validateContainer(c, index(child(path, 'containers'), i), volumes, names, false, causes));
  validateEphemeralContainers(spec, path, volumes, names, causes);
  if (spec.restartPolicy !== undefined && !RESTART_POLICIES.includes(spec.restartPolicy)) {
    causes.push(notSupported(child(path, 'restartPolicy'), spec.restartPolicy, RESTART_POLICIES));
  }
  if (spec.dnsPolicy !== undefined && !DNS_POLICIES.includes(spec.dnsPolicy)) {
    causes.push(notSupported(child(path, 'dnsPolicy'), spec.dnsPolicy, DNS_POLICIES));
  }
  if (spec.nodeName) for (const msg of isDNS1123Subdomain(spec.nodeName)) causes.push(invalid(child(path, 'nodeName'), spec.nodeName, msg));
  if (spec.serviceAccountName) {
    for (const msg of isDNS1123Subdomain(spec.serviceAccountName)) causes.push(invalid(child(path, 'serviceAccountName'), spec.serviceAccountName, msg));
  }
  if (spec.runtimeClassName) {
    for (const msg of isDNS1123Subdomain(spec.runtimeClassName)) causes.push(invalid(child(path, 'runtimeClassName'), spec.runtimeClassName, msg));
  }
  if (spec.activeDeadlineSeconds !== undefined && (spec.activeDeadlineSeconds < 1 || spec.activeDeadlineSeconds > 2147483647)) {
    causes.push(invalid(child(path, 'activeDeadlineSeconds'), spec.activeDeadlineSeconds, 'must be between 1 and 2147483647, inclusive'));
  }
  causes.push(...validateLabels(spec.nodeSelector, child(path, 'nodeSelector')));
  causes.push(...validateTolerations(spec.tolerations, child(path, 'tolerations')));
  causes.push(...validateAffinity(spec.affinity, child(path, 'affinity')));
  causes.push(...validateTopologySpreadConstraints(spec.topologySpreadConstraints, child(path, 'topologySpreadConstraints')));
  return causes;
}

/** fields an ephemeral container may not have: it is never restarted, serves nothing and reserves nothing (upstream's list) */
const EPHEMERAL_FORBIDDEN = ['ports', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'resizePolicy', 'restartPolicy'] as const;

/** spec.ephemeralContainers (added through pods/ephemeralcontainers, e.g. by `kubectl debug`): validateEphemeralContainers */
function validateEphemeralContainers(spec: PodSpec, path: string, volumes: Set<string>, names: Set<string>, causes: FieldCause[]): void {
  const targets = new Set([...(spec.containers ?? []), ...(spec.initContainers ?? [])].map((c) => c.name));
  (spec.ephemeralContainers ?? []).forEach((e, i) => {
    const ep = index(child(path, 'ephemeralContainers'), i);
    validateContainer(e as Container, ep, volumes, names, false, causes);
    for (const f of EPHEMERAL_FORBIDDEN) {
      if ((e as unknown as Record<string, unknown>)[f] !== undefined) causes.push(forbidden(child(ep, f), 'cannot be set for an Ephemeral Container'));
    }
    if (e.resources && (Object.keys(e.resources.limits ?? {}).length > 0 || Object.keys(e.resources.requests ?? {}).length > 0)) {
      causes.push(forbidden(child(ep, 'resources'), 'cannot be set for an Ephemeral Container'));
    }
    (e.volumeMounts ?? []).forEach((m, j) => {
      if (m.subPath) causes.push(forbidden(child(index(child(ep, 'volumeMounts'), j), 'subPath'), 'cannot be set for an Ephemeral Container'));
    });
    if (e.targetContainerName !== undefined && !targets.has(e.targetContainerName)) {
      causes.push(notFound(child(ep, 'targetContainerName'), e.targetContainerName));
    }
  });
}

/** ValidatePodEphemeralContainersUpdate: ephemeral containers may only be added; the ones there stay as they are */
export function validateEphemeralContainersUpdate(spec: PodSpec, oldSpec: PodSpec): FieldCause[] {
  const causes: FieldCause[] = [];
  const now = new Map((spec.ephemeralContainers ?? []).map((e) => [e.name, e]));
  for (const e of oldSpec.ephemeralContainers ?? []) {
    const n = now.get(e.name);
    if (!n) causes.push(forbidden('spec.ephemeralContainers', `existing ephemeral containers "${e.name}" may not be removed`));
    else if (!semanticEqual(n, e)) causes.push(forbidden(`spec.ephemeralContainers[${e.name}]`, 'existing ephemeral containers may not be changed'));
  }
  return causes;
}

export function validatePod(obj: KubeObject): FieldCause[] {
  const pod = obj as unknown as Pod;
  const causes = validatePodSpec(pod.spec, 'spec');
  // ValidatePodCreate: they come through pods/ephemeralcontainers, to a running pod
  if ((pod.spec?.ephemeralContainers ?? []).length > 0) causes.push(forbidden('spec.ephemeralContainers', 'cannot be set on create'));
  return causes;
}

const UPDATE_FORBIDDEN_MSG =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

function tolerationKey(t: Toleration): string {
  return JSON.stringify([t.key ?? '', t.operator ?? 'Equal', t.value ?? '', t.effect ?? '']);
}

/** ValidatePodUpdate: the spec is immutable except for a few fields. */
export function validatePodUpdate(obj: KubeObject, oldObj: KubeObject): FieldCause[] {
  const spec = (obj as unknown as Pod).spec;
  const oldSpec = (oldObj as unknown as Pod).spec;
  const causes = validatePodSpec(spec, 'spec');
  if (!spec || !oldSpec) return causes;
  if ((spec.containers ?? []).length !== (oldSpec.containers ?? []).length || (spec.initContainers ?? []).length !== (oldSpec.initContainers ?? []).length) {
    causes.push(forbidden('spec.containers', 'pod updates may not add or remove containers'));
    return causes;
  }
  // tolerations may only grow; an existing NoExecute toleration may only shorten its seconds
  const newTol = new Map((spec.tolerations ?? []).map((t) => [tolerationKey(t), t]));
  for (const t of oldSpec.tolerations ?? []) {
    const n = newTol.get(tolerationKey(t));
    if (!n) {
      causes.push(forbidden('spec.tolerations', 'existing toleration can not be modified except its tolerationSeconds'));
      break;
    }
    if (t.tolerationSeconds !== undefined && (n.tolerationSeconds === undefined || n.tolerationSeconds > t.tolerationSeconds)) {
      causes.push(forbidden('spec.tolerations', 'existing toleration can not be modified except its tolerationSeconds'));
      break;
    }
  }
  if (oldSpec.activeDeadlineSeconds !== undefined) {
    if (spec.activeDeadlineSeconds === undefined) {
      causes.push(invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value'));
    } else if (spec.activeDeadlineSeconds > oldSpec.activeDeadlineSeconds) {
      causes.push(invalid('spec.activeDeadlineSeconds', spec.activeDeadlineSeconds, 'must be less than or equal to previous value'));
    }
  }
  const munged: PodSpec = structuredClone(spec);
  munged.containers = munged.containers.map((c, i) => ({ ...c, image: oldSpec.containers[i]?.image }));
  if (munged.initContainers) munged.initContainers = munged.initContainers.map((c, i) => ({ ...c, image: oldSpec.initContainers?.[i]?.image }));
  munged.activeDeadlineSeconds = oldSpec.activeDeadlineSeconds;
  munged.tolerations = oldSpec.tolerations;
  munged.schedulingGates = oldSpec.schedulingGates;
  // changed only through pods/ephemeralcontainers, checked below (the main resource keeps the stored ones)
  munged.ephemeralContainers = oldSpec.ephemeralContainers;
  causes.push(...validateEphemeralContainersUpdate(spec, oldSpec));
  if ((oldSpec.terminationGracePeriodSeconds ?? 0) < 0 && munged.terminationGracePeriodSeconds === 1) {
    munged.terminationGracePeriodSeconds = oldSpec.terminationGracePeriodSeconds;
  }
  if (!semanticEqual(munged, oldSpec)) {
    const changed = diffPaths(oldSpec, munged, 'spec').slice(0, 10);
    causes.push(forbidden('spec', `${UPDATE_FORBIDDEN_MSG}\nchanged: ${changed.join(', ')}`));
  }
  return causes;
}
