import type { Service } from 'kubernetes-types/core/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import type { KubeObject } from '../object.ts';
import { child, duplicate, index, invalid, notSupported, required } from '../meta/field-errors.ts';
import { isDNS1123Label, isDNS1123Subdomain, isValidPortName, isValidPortNum } from '../meta/name-formats.ts';
import { validateLabels } from '../labels/validate.ts';

const TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const AFFINITIES = ['ClientIP', 'None'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIP(v: string): boolean {
  return IPV4_RE.test(v) || (v.includes(':') && /^[0-9a-fA-F:.]+$/.test(v));
}

export function validateService(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const svc = obj as unknown as Service;
  const spec = svc.spec ?? {};
  const causes: FieldCause[] = [];
  const type = spec.type ?? 'ClusterIP';
  if (!TYPES.includes(type)) causes.push(notSupported('spec.type', type, TYPES));
  const headless = spec.clusterIP === 'None';
  const ports = spec.ports ?? [];
  if (type === 'ExternalName') {
    if (!spec.externalName) causes.push(required('spec.externalName'));
    else for (const msg of isDNS1123Subdomain(spec.externalName.replace(/\.$/, ''))) causes.push(invalid('spec.externalName', spec.externalName, msg));
  } else if (ports.length === 0 && !headless) {
    causes.push(required('spec.ports'));
  }
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const pp = index('spec.ports', i);
    if (ports.length > 1 && !p.name) causes.push(required(child(pp, 'name')));
    if (p.name) {
      for (const msg of isDNS1123Label(p.name)) causes.push(invalid(child(pp, 'name'), p.name, msg));
      if (names.has(p.name)) causes.push(duplicate(child(pp, 'name'), p.name));
      names.add(p.name);
    }
    for (const msg of isValidPortNum(p.port)) causes.push(invalid(child(pp, 'port'), p.port, msg));
    if (p.protocol !== undefined && !PROTOCOLS.includes(p.protocol)) causes.push(notSupported(child(pp, 'protocol'), p.protocol, PROTOCOLS));
    if (p.targetPort !== undefined) {
      const msgs = typeof p.targetPort === 'number' ? isValidPortNum(p.targetPort) : isValidPortName(p.targetPort);
      for (const msg of msgs) causes.push(invalid(child(pp, 'targetPort'), p.targetPort, msg));
    }
    if (p.nodePort !== undefined && p.nodePort !== 0) {
      if (type !== 'NodePort' && type !== 'LoadBalancer') causes.push(invalid(child(pp, 'nodePort'), p.nodePort, 'may not be used when `type` is \'' + type + '\''));
      for (const msg of isValidPortNum(p.nodePort)) causes.push(invalid(child(pp, 'nodePort'), p.nodePort, msg));
    }
  });
  if (spec.sessionAffinity !== undefined && !AFFINITIES.includes(spec.sessionAffinity)) {
    causes.push(notSupported('spec.sessionAffinity', spec.sessionAffinity, AFFINITIES));
  }
  if (spec.clusterIP && spec.clusterIP !== 'None' && !isIP(spec.clusterIP)) {
    causes.push(invalid('spec.clusterIP', spec.clusterIP, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
  }
  causes.push(...validateLabels(spec.selector, 'spec.selector'));
  if (oldObj) {
    const old = (oldObj as unknown as Service).spec ?? {};
    // ExternalName services have no cluster IP, so switching to/from that type may change it
    const exempt = type === 'ExternalName' || old.type === 'ExternalName';
    if (!exempt && old.clusterIP && (spec.clusterIP ?? '') !== old.clusterIP) {
      causes.push(invalid('spec.clusterIP', spec.clusterIP ?? '', 'field is immutable'));
    }
  }
  return causes;
}
