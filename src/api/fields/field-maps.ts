import type { Event, Namespace, Node, Pod, Secret } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../object.ts';

type FieldMap = Record<string, (obj: KubeObject) => string>;

/** KubeObject is the untyped wire shape; these maps read it through the concrete type. */
function typed<T>(fields: Record<string, (o: T) => string>): FieldMap {
  return fields as unknown as FieldMap;
}

const bool = (b: boolean | undefined): string => (b ? 'true' : 'false');

/** As registered by pkg/registry/core/pod/strategy.go ToSelectableFields. */
export const podFields: FieldMap = typed<Pod>({
  'spec.nodeName': (p) => p.spec?.nodeName ?? '',
  'spec.restartPolicy': (p) => p.spec?.restartPolicy ?? '',
  'spec.schedulerName': (p) => p.spec?.schedulerName ?? '',
  'spec.serviceAccountName': (p) => p.spec?.serviceAccountName ?? '',
  'spec.hostNetwork': (p) => bool(p.spec?.hostNetwork),
  'status.phase': (p) => p.status?.phase ?? '',
  // upstream selects on the first of podIPs, not the legacy podIP field
  'status.podIP': (p) => p.status?.podIPs?.[0]?.ip ?? p.status?.podIP ?? '',
  'status.nominatedNodeName': (p) => p.status?.nominatedNodeName ?? '',
});

export const nodeFields: FieldMap = typed<Node>({
  'spec.unschedulable': (n) => bool(n.spec?.unschedulable),
});

export const eventFields: FieldMap = typed<Event>({
  'involvedObject.kind': (e) => e.involvedObject?.kind ?? '',
  'involvedObject.namespace': (e) => e.involvedObject?.namespace ?? '',
  'involvedObject.name': (e) => e.involvedObject?.name ?? '',
  'involvedObject.uid': (e) => e.involvedObject?.uid ?? '',
  'involvedObject.apiVersion': (e) => e.involvedObject?.apiVersion ?? '',
  'involvedObject.resourceVersion': (e) => e.involvedObject?.resourceVersion ?? '',
  'involvedObject.fieldPath': (e) => e.involvedObject?.fieldPath ?? '',
  reason: (e) => e.reason ?? '',
  reportingComponent: (e) => e.reportingComponent ?? '',
  source: (e) => e.source?.component ?? '',
  type: (e) => e.type ?? '',
});

export const secretFields: FieldMap = typed<Secret>({
  type: (s) => s.type ?? '',
});

export const namespaceFields: FieldMap = typed<Namespace>({
  'status.phase': (n) => n.status?.phase ?? '',
});
