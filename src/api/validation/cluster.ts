import type { Event, Namespace, Node, ServiceAccount, Endpoints } from 'kubernetes-types/core/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { RuntimeClass } from 'kubernetes-types/node/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import type { KubeObject } from '../object.ts';
import { child, index, invalid, notSupported, required } from '../meta/field-errors.ts';
import { isDNS1123Label, isQualifiedName, isValidLabelValue, isValidPortNum } from '../meta/name-formats.ts';
import { validateLabels } from '../labels/validate.ts';
import { validateResourceList } from './resources.ts';
import { validateTolerations } from './pod.ts';
import { isIP } from './service.ts';

const TAINT_EFFECTS = ['NoExecute', 'NoSchedule', 'PreferNoSchedule'];
const CIDR_RE = /^([0-9.]+|[0-9a-fA-F:.]+)\/\d{1,3}$/;

export function validateNode(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const node = obj as unknown as Node;
  const causes: FieldCause[] = [];
  const spec = node.spec ?? {};
  (spec.taints ?? []).forEach((t, i) => {
    const tp = index('spec.taints', i);
    if (!t.key) causes.push(required(child(tp, 'key')));
    else for (const msg of isQualifiedName(t.key)) causes.push(invalid(child(tp, 'key'), t.key, msg));
    if (t.value) for (const msg of isValidLabelValue(t.value)) causes.push(invalid(child(tp, 'value'), t.value, msg));
    if (!t.effect) causes.push(required(child(tp, 'effect')));
    else if (!TAINT_EFFECTS.includes(t.effect)) causes.push(notSupported(child(tp, 'effect'), t.effect, TAINT_EFFECTS));
  });
  const cidrs = spec.podCIDRs ?? (spec.podCIDR ? [spec.podCIDR] : []);
  cidrs.forEach((c, i) => {
    if (!CIDR_RE.test(c)) causes.push(invalid(index('spec.podCIDRs', i), c, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
  });
  validateResourceList(node.status?.capacity, 'status.capacity', causes);
  validateResourceList(node.status?.allocatable, 'status.allocatable', causes);
  (node.status?.addresses ?? []).forEach((a, i) => {
    if (!a.type) causes.push(required(child(index('status.addresses', i), 'type')));
  });
  if (oldObj) {
    const old = (oldObj as unknown as Node).spec ?? {};
    // a node's pod CIDR is assigned once; changing it would strand running pods
    if (old.podCIDR && spec.podCIDR !== old.podCIDR) causes.push(invalid('spec.podCIDR', spec.podCIDR ?? '', 'node updates may not change podCIDR except from "" to valid'));
    if (old.providerID && spec.providerID !== old.providerID) causes.push(invalid('spec.providerID', spec.providerID ?? '', 'node updates may not change providerID except from "" to valid'));
  }
  return causes;
}

export function validateNamespace(obj: KubeObject): FieldCause[] {
  const ns = obj as unknown as Namespace;
  const causes: FieldCause[] = [];
  (ns.spec?.finalizers ?? []).forEach((f) => {
    const msgs = isQualifiedName(f);
    for (const msg of msgs) causes.push(invalid('spec.finalizers', f, msg));
    if (!msgs.length && !f.includes('/') && f !== 'kubernetes') {
      causes.push(invalid('spec.finalizers', f, 'name is neither a standard finalizer name nor is it fully qualified'));
    }
  });
  const phase = ns.status?.phase;
  if (phase !== undefined && phase !== 'Active' && phase !== 'Terminating') causes.push(notSupported('status.phase', phase, ['Active', 'Terminating']));
  return causes;
}

export function validateLease(obj: KubeObject): FieldCause[] {
  const spec = (obj as unknown as Lease).spec ?? {};
  const causes: FieldCause[] = [];
  if (spec.leaseDurationSeconds !== undefined && spec.leaseDurationSeconds <= 0) {
    causes.push(invalid('spec.leaseDurationSeconds', spec.leaseDurationSeconds, 'must be greater than 0'));
  }
  if (spec.leaseTransitions !== undefined && spec.leaseTransitions < 0) {
    causes.push(invalid('spec.leaseTransitions', spec.leaseTransitions, 'must be greater than or equal to 0'));
  }
  return causes;
}

export function validateRuntimeClass(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const rc = obj as unknown as RuntimeClass;
  const causes: FieldCause[] = [];
  if (!rc.handler) causes.push(required('handler'));
  else for (const msg of isDNS1123Label(rc.handler)) causes.push(invalid('handler', rc.handler, msg));
  validateResourceList(rc.overhead?.podFixed, 'overhead.podFixed', causes);
  causes.push(...validateLabels(rc.scheduling?.nodeSelector, 'scheduling.nodeSelector'));
  causes.push(...validateTolerations(rc.scheduling?.tolerations, 'scheduling.tolerations'));
  if (oldObj) {
    const old = oldObj as unknown as RuntimeClass;
    if (old.handler !== rc.handler) causes.push(invalid('handler', rc.handler ?? '', 'field is immutable'));
  }
  return causes;
}

/** legacy (core/v1) event rules: the event lives in its object's namespace. */
export function validateEvent(obj: KubeObject): FieldCause[] {
  const ev = obj as unknown as Event;
  const causes: FieldCause[] = [];
  const ns = ev.metadata?.namespace ?? '';
  const objNs = ev.involvedObject?.namespace ?? '';
  const mismatch = objNs === '' ? ns !== '' && ns !== 'default' : ns !== '' && ns !== objNs;
  if (mismatch) causes.push(invalid('involvedObject.namespace', objNs, 'does not match event.namespace'));
  if (ev.type !== undefined && ev.type !== '' && ev.type !== 'Normal' && ev.type !== 'Warning') {
    causes.push(notSupported('type', ev.type, ['Normal', 'Warning']));
  }
  return causes;
}

export function validateServiceAccount(obj: KubeObject): FieldCause[] {
  const sa = obj as unknown as ServiceAccount;
  const causes: FieldCause[] = [];
  (sa.imagePullSecrets ?? []).forEach((s, i) => {
    if (!s.name) causes.push(required(child(index('imagePullSecrets', i), 'name')));
  });
  return causes;
}

export function validateEndpoints(obj: KubeObject): FieldCause[] {
  const ep = obj as unknown as Endpoints;
  const causes: FieldCause[] = [];
  (ep.subsets ?? []).forEach((s, i) => {
    const sp = index('subsets', i);
    for (const [field, list] of [['addresses', s.addresses], ['notReadyAddresses', s.notReadyAddresses]] as const) {
      (list ?? []).forEach((a, j) => {
        const ap = child(index(child(sp, field), j), 'ip');
        if (!a.ip || !isIP(a.ip)) causes.push(invalid(ap, a.ip ?? '', 'must be a valid IP address'));
      });
    }
    (s.ports ?? []).forEach((p, j) => {
      for (const msg of isValidPortNum(p.port)) causes.push(invalid(child(index(child(sp, 'ports'), j), 'port'), p.port, msg));
    });
  });
  return causes;
}
