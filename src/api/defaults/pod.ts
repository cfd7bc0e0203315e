import type { Container, Pod, PodSpec, PodStatus, Probe, ResourceRequirements, Volume } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../object.ts';
import { tryParseQuantity } from '../meta/quantity.ts';
import { DEFAULT_SERVICE_ACCOUNT, isMirrorPod } from '../service-account.ts';

/** Image reference tag as docker's reference parser sees it; no tag and no digest means "latest". */
export function imageTag(image: string): string {
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) return name.slice(colon + 1);
  return at >= 0 ? '' : 'latest';
}

function defaultProbe(p: Probe | undefined): void {
  if (!p) return;
  p.timeoutSeconds ??= 1;
  p.periodSeconds ??= 10;
  p.successThreshold ??= 1;
  p.failureThreshold ??= 3;
  if (p.httpGet) {
    p.httpGet.path ??= '/';
    p.httpGet.scheme ??= 'HTTP';
  }
}

function defaultResources(r: ResourceRequirements | undefined): void {
  // a container that only sets limits gets requests equal to them (SetDefaults_Pod)
  if (!r?.limits) return;
  r.requests ??= {};
  for (const [name, q] of Object.entries(r.limits)) if (!(name in r.requests)) r.requests[name] = q;
}

function defaultContainer(c: Container, hostNetwork: boolean): void {
  if (!c.imagePullPolicy && typeof c.image === 'string') c.imagePullPolicy = imageTag(c.image) === 'latest' ? 'Always' : 'IfNotPresent';
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  for (const p of c.ports ?? []) {
    p.protocol ??= 'TCP';
    if (hostNetwork && p.hostPort === undefined) p.hostPort = p.containerPort;
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom?.fieldRef) e.valueFrom.fieldRef.apiVersion ??= 'v1';
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  defaultResources(c.resources);
}

const DEFAULT_MODE = 0o644;

function defaultVolume(v: Volume): void {
  if (v.configMap) v.configMap.defaultMode ??= DEFAULT_MODE;
  if (v.secret) v.secret.defaultMode ??= DEFAULT_MODE;
  if (v.projected) v.projected.defaultMode ??= DEFAULT_MODE;
  if (v.downwardAPI) v.downwardAPI.defaultMode ??= DEFAULT_MODE;
  if (v.hostPath) v.hostPath.type ??= '';
}

/** SetDefaults_PodSpec + the container/volume defaults it implies. */
export function defaultPodSpec(spec: PodSpec): void {
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  const hostNetwork = spec.hostNetwork === true;
  for (const c of spec.initContainers ?? []) defaultContainer(c, hostNetwork);
  for (const c of spec.containers ?? []) defaultContainer(c, hostNetwork);
  for (const c of spec.ephemeralContainers ?? []) defaultContainer(c as Container, hostNetwork);
  for (const v of spec.volumes ?? []) defaultVolume(v);
}

type QOSClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** qos.GetPodQOS over cpu and memory, the only resources that decide the class. */
export function podQOSClass(spec: PodSpec): QOSClass {
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    for (const name of ['cpu', 'memory']) {
      const r = req[name] !== undefined ? tryParseQuantity(String(req[name])) : undefined;
      const l = lim[name] !== undefined ? tryParseQuantity(String(lim[name])) : undefined;
      const rq = typeof r === 'object' && !r.isZero() ? r : undefined;
      const lq = typeof l === 'object' && !l.isZero() ? l : undefined;
      if (rq || lq) any = true;
      if (!lq || (rq && rq.cmp(lq) !== 0)) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/**
 * Everything upstream fills in on a new Pod: API defaults, plus what the ServiceAccount admission
 * plugin and the pod strategy add (service account, phase, QoS). `spec.priority` and
 * `spec.preemptionPolicy` come from the Priority admission plugin (apiserver/admission/priority.ts).
 */
export function defaultPod(obj: KubeObject): void {
  const pod = obj as unknown as Pod;
  pod.spec ??= { containers: [] };
  const spec = pod.spec;
  defaultPodSpec(spec);
  // a static pod's mirror runs as no account (the ServiceAccount admission refuses it one)
  spec.serviceAccountName ??= spec.serviceAccount ?? (isMirrorPod(pod) ? undefined : DEFAULT_SERVICE_ACCOUNT);
  // the deprecated alias is kept equal, as the v1 conversion does
  if (spec.serviceAccountName !== undefined) spec.serviceAccount = spec.serviceAccountName;
  // kubernetes-types marks status read-only; on the server we are the ones who set it
  const writable = obj as { status?: PodStatus };
  writable.status ??= {};
  writable.status.phase ??= 'Pending';
  writable.status.qosClass ??= podQOSClass(spec);
}
