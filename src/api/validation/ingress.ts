import type { HTTPIngressPath, IngressBackend, IngressLoadBalancerStatus, IngressRule, IngressSpec } from 'kubernetes-types/networking/v1.js';
import { parseIp } from '../../lib/cidr.ts';
import type { FieldCause } from '../../lib/errors.ts';
import { child, forbidden, index, invalid, notSupported, required, tooLong } from '../meta/field-errors.ts';
import { nameIsDNS1035Label, nameIsDNSLabel, nameIsDNSSubdomain, validatePathSegmentName } from '../meta/name.ts';
import { isDNS1123Subdomain, isValidPortName, isValidPortNum, isWildcardDNS1123Subdomain, regexError } from '../meta/name-formats.ts';
import { INGRESS_CLASS_ANNOTATION, type IngressClassObject, type IngressObject } from '../networking/ingress.ts';
import type { KubeObject } from '../object.ts';

/**
 * networking/v1 Ingress and IngressClass as pkg/apis/networking/validation checks them: hosts
 * (DNS names, one leading `*.`), paths per pathType, exactly one backend kind, TLS hosts and
 * secret names, the class name; an IngressClass's domain-prefixed controller (immutable) and
 * its parameters reference; the load balancer status written through `/status`.
 */

const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix'];
const INVALID_PATH_SEQUENCES = ['//', '/./', '/../', '%2f', '%2F'];
const INVALID_PATH_SUFFIXES = ['/..', '/.'];
const PARAMETER_SCOPES = ['Cluster', 'Namespace'];
const MAX_CONTROLLER_LENGTH = 250;
const HTTP_PATH_FMT = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+";
const httpPathRe = new RegExp(`^${HTTP_PATH_FMT}$`);
const NOT_AN_IP = 'must be a DNS name, not an IP address';

interface Options {
  /** an update may keep a TLS secretName the stored object already had wrong */
  allowInvalidSecretName: boolean;
  /** an update may keep invalid rule values under a wildcard host the stored object already had */
  allowInvalidWildcardHostRule: boolean;
}

const isIpAddress = (s: string): boolean => parseIp(s) !== undefined;

function host(value: string, path: string, causes: FieldCause[]): void {
  const check = value.includes('*') ? isWildcardDNS1123Subdomain : isDNS1123Subdomain;
  for (const msg of check(value)) causes.push(invalid(path, value, msg));
}

/** validateIngressBackend: a service (name, port name xor number) or a resource, never both */
function backend(b: IngressBackend, path: string, causes: FieldCause[]): void {
  if (b.resource && b.service) {
    causes.push(invalid(path, '', 'cannot set both resource and service backends'));
    return;
  }
  if (b.resource) {
    typedReference(b.resource, child(path, 'resource'), causes);
    return;
  }
  if (!b.service) {
    causes.push(invalid(path, '', 'resource or service backend is required'));
    return;
  }
  const svc = b.service;
  const svcPath = child(path, 'service');
  if (!svc.name) causes.push(required(child(svcPath, 'name'), ''));
  else for (const msg of nameIsDNS1035Label(svc.name, false)) causes.push(invalid(child(svcPath, 'name'), svc.name, msg));
  const portName = svc.port?.name ?? '';
  const portNumber = svc.port?.number ?? 0;
  const portPath = child(svcPath, 'port');
  if (portName && portNumber) causes.push(invalid(path, '', 'cannot set both port name & port number'));
  else if (portName) for (const msg of isValidPortName(portName)) causes.push(invalid(child(portPath, 'name'), portName, msg));
  else if (portNumber) for (const msg of isValidPortNum(portNumber)) causes.push(invalid(child(portPath, 'number'), portNumber, msg));
  else causes.push(required(path, 'port name or number is required'));
}

/** validateIngressTypedLocalObjectReference (a backend's resource) and the shared part of an IngressClass's parameters */
function typedReference(ref: { apiGroup?: string; kind?: string; name?: string }, path: string, causes: FieldCause[]): void {
  if (ref.apiGroup !== undefined && ref.apiGroup !== null) {
    for (const msg of isDNS1123Subdomain(ref.apiGroup)) causes.push(invalid(child(path, 'apiGroup'), ref.apiGroup, msg));
  }
  for (const field of ['kind', 'name'] as const) {
    const v = ref[field];
    if (!v) causes.push(required(child(path, field), ''));
    else for (const msg of validatePathSegmentName(v, false)) causes.push(invalid(child(path, field), v, msg));
  }
}

function httpPath(p: HTTPIngressPath, path: string, causes: FieldCause[]): void {
  if (p.pathType === undefined || p.pathType === null) {
    causes.push(required(child(path, 'pathType'), 'pathType must be specified'));
    return;
  }
  const value = p.path ?? '';
  const pathField = child(path, 'path');
  switch (p.pathType) {
    case 'Exact':
    case 'Prefix':
      if (!value.startsWith('/')) causes.push(invalid(pathField, value, 'must be an absolute path'));
      for (const seq of INVALID_PATH_SEQUENCES) if (value.includes(seq)) causes.push(invalid(pathField, value, `must not contain '${seq}'`));
      for (const suffix of INVALID_PATH_SUFFIXES) if (value.endsWith(suffix)) causes.push(invalid(pathField, value, `cannot end with '${suffix}'`));
      break;
    case 'ImplementationSpecific':
      if (value && !value.startsWith('/')) causes.push(invalid(pathField, value, 'must be an absolute path'));
      break;
    default:
      causes.push(notSupported(child(path, 'pathType'), p.pathType, PATH_TYPES));
  }
  backend(p.backend ?? {}, child(path, 'backend'), causes);
}

/** validateIngressRuleValue: an `http` value needs at least one path, each valid */
function ruleValue(rule: IngressRule, path: string, causes: FieldCause[]): void {
  if (!rule.http) return;
  const httpField = child(path, 'http');
  const paths = rule.http.paths ?? [];
  if (paths.length === 0) causes.push(required(child(httpField, 'paths'), ''));
  paths.forEach((p, i) => httpPath(p ?? {}, index(child(httpField, 'paths'), i), causes));
}

function rules(list: IngressRule[], opts: Options, causes: FieldCause[]): void {
  list.forEach((raw, i) => {
    const rule = raw ?? {};
    const rp = index('spec.rules', i);
    const h = rule.host ?? '';
    if (h) {
      if (isIpAddress(h)) causes.push(invalid(child(rp, 'host'), h, NOT_AN_IP));
      host(h, child(rp, 'host'), causes);
    }
    if (!h.includes('*') || !opts.allowInvalidWildcardHostRule) ruleValue(rule, rp, causes);
  });
}

/** ValidateIngressSpec */
function validateSpec(spec: IngressSpec, opts: Options): FieldCause[] {
  const causes: FieldCause[] = [];
  const ruleList = spec.rules ?? [];
  if (ruleList.length === 0 && !spec.defaultBackend) {
    // Go prints the nil rules slice with %#v
    causes.push({ field: 'spec', reason: 'FieldValueInvalid', message: 'Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified' });
  }
  if (spec.defaultBackend) backend(spec.defaultBackend, 'spec.defaultBackend', causes);
  rules(ruleList, opts, causes);
  (spec.tls ?? []).forEach((raw, i) => {
    const tls = raw ?? {};
    const tp = index('spec.tls', i);
    // a null entry decodes as "" in Go
    (tls.hosts ?? []).forEach((h, j) => host(h ?? '', index(child(tp, 'hosts'), j), causes));
    if (!opts.allowInvalidSecretName && tls.secretName) {
      for (const msg of nameIsDNSSubdomain(tls.secretName, false)) causes.push(invalid(child(tp, 'secretName'), tls.secretName, msg));
    }
  });
  if (spec.ingressClassName !== undefined && spec.ingressClassName !== null) {
    for (const msg of nameIsDNSSubdomain(spec.ingressClassName, false)) causes.push(invalid('spec.ingressClassName', spec.ingressClassName, msg));
  }
  return causes;
}

/** ValidateIngressCreate: the spec, and a class annotation must agree with spec.ingressClassName */
export function validateIngress(obj: KubeObject): FieldCause[] {
  const ing = obj as IngressObject;
  const causes = validateSpec(ing.spec ?? {}, { allowInvalidSecretName: false, allowInvalidWildcardHostRule: false });
  const annotated = ing.metadata.annotations?.[INGRESS_CLASS_ANNOTATION];
  const className = ing.spec?.ingressClassName;
  if (annotated !== undefined && className !== undefined && className !== null && annotated !== className) {
    causes.push(invalid(`annotations.${INGRESS_CLASS_ANNOTATION}`, annotated, 'must match `ingressClassName` when both are specified'));
  }
  return causes;
}

/**
 * ValidateIngressUpdate (what the stored object already had wrong may stay) and, for what a
 * `/status` write brings, ValidateIngressLoadBalancerStatus: the main resource carries the
 * stored status over, so checking it on every update only ever sees a status write's changes.
 */
export function validateIngressUpdate(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const ing = obj as IngressObject;
  const old = oldObj as IngressObject | undefined;
  const oldTls = old?.spec?.tls ?? [];
  const oldRules = old?.spec?.rules ?? [];
  const opts: Options = {
    allowInvalidSecretName: oldTls.some((t) => !!t?.secretName && nameIsDNSSubdomain(t.secretName, false).length > 0),
    allowInvalidWildcardHostRule: oldRules.some((r) => {
      if (!r?.host?.includes('*')) return false;
      const errs: FieldCause[] = [];
      ruleValue(r, '', errs);
      return errs.length > 0;
    }),
  };
  return [...validateSpec(ing.spec ?? {}, opts), ...loadBalancerStatus(ing.status?.loadBalancer ?? {}, old?.status?.loadBalancer ?? {})];
}

/** ValidateIngressLoadBalancerStatus: IPs (an IP the old status had may stay), hostnames that are DNS names */
function loadBalancerStatus(status: IngressLoadBalancerStatus, old: IngressLoadBalancerStatus): FieldCause[] {
  const causes: FieldCause[] = [];
  const existing = new Set((old.ingress ?? []).map((i) => i?.ip).filter((ip): ip is string => !!ip));
  (status.ingress ?? []).forEach((raw, i) => {
    const lb = raw ?? {};
    const p = index('status.loadBalancer.ingress', i);
    if (lb.ip && !existing.has(lb.ip) && !isIpAddress(lb.ip)) causes.push(invalid(child(p, 'ip'), lb.ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
    if (lb.hostname) {
      for (const msg of isDNS1123Subdomain(lb.hostname)) causes.push(invalid(child(p, 'hostname'), lb.hostname, msg));
      if (isIpAddress(lb.hostname)) causes.push(invalid(child(p, 'hostname'), lb.hostname, NOT_AN_IP));
    }
  });
  return causes;
}

/** validation.IsDomainPrefixedPath: `<DNS subdomain>/<http path>` */
function domainPrefixedPath(value: string, path: string, causes: FieldCause[]): void {
  const slash = value.indexOf('/');
  const domain = slash < 0 ? value : value.slice(0, slash);
  const rest = slash < 0 ? '' : value.slice(slash + 1);
  if (slash < 0 || !domain || !rest) {
    causes.push(invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")'));
    return;
  }
  for (const msg of isDNS1123Subdomain(domain)) causes.push(invalid(path, domain, msg));
  if (!httpPathRe.test(rest)) causes.push(invalid(path, rest, regexError('Invalid path', HTTP_PATH_FMT)));
}

/** SetDefaults_IngressClass: a parameters reference without a scope is Cluster-scoped */
export function defaultIngressClass(obj: KubeObject): void {
  const params = (obj as IngressClassObject).spec?.parameters;
  if (params && (params.scope === undefined || params.scope === null)) params.scope = 'Cluster';
}

/** ValidateIngressClass: controller, parameters */
export function validateIngressClass(obj: KubeObject): FieldCause[] {
  const spec = (obj as IngressClassObject).spec ?? {};
  const causes: FieldCause[] = [];
  const controller = spec.controller ?? '';
  if (!controller) causes.push(required('spec.controller', ''));
  else {
    if (controller.length > MAX_CONTROLLER_LENGTH) causes.push(tooLong('spec.controller', MAX_CONTROLLER_LENGTH));
    domainPrefixedPath(controller, 'spec.controller', causes);
  }
  const params = spec.parameters;
  if (!params) return causes;
  const pp = 'spec.parameters';
  typedReference(params, pp, causes);
  if (params.scope === undefined || params.scope === null) {
    causes.push(required(child(pp, 'scope'), ''));
    return causes;
  }
  if (!PARAMETER_SCOPES.includes(params.scope)) causes.push(notSupported(child(pp, 'scope'), params.scope, PARAMETER_SCOPES));
  else if (params.scope === 'Namespace') {
    if (params.namespace === undefined || params.namespace === null) causes.push(required(child(pp, 'namespace'), "`parameters.scope` is set to 'Namespace'"));
    else for (const msg of nameIsDNSLabel(params.namespace, false)) causes.push(invalid(child(pp, 'namespace'), params.namespace, msg));
  } else if (params.namespace !== undefined && params.namespace !== null) {
    causes.push(forbidden(child(pp, 'namespace'), "`parameters.scope` is set to 'Cluster'"));
  }
  return causes;
}

/** ValidateIngressClassUpdate: the controller is immutable, then the whole class again */
export function validateIngressClassUpdate(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  const now = (obj as IngressClassObject).spec?.controller ?? '';
  const was = (oldObj as IngressClassObject | undefined)?.spec?.controller ?? '';
  const causes: FieldCause[] = now !== was ? [invalid('spec.controller', now, 'field is immutable')] : [];
  return [...causes, ...validateIngressClass(obj)];
}
