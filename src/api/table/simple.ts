import type { ConfigMap, Endpoints, Namespace, Secret, ServiceAccount } from 'kubernetes-types/core/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { RuntimeClass } from 'kubernetes-types/node/v1.js';
import type { PriorityClass } from 'kubernetes-types/scheduling/v1.js';
import type { KubeObject } from '../object.ts';
import type { TableDef } from '../resources/types.ts';
import { ageColumn, column, nameColumn } from './columns.ts';
import { since } from './duration.ts';

const age = (obj: KubeObject, now: Date): string => since(obj.metadata?.creationTimestamp, now);
const name = (obj: KubeObject): string => obj.metadata?.name ?? '';

/** What resources without their own printer show (as for CRDs without printer columns). */
export const defaultTable: TableDef = {
  columns: [nameColumn(), ageColumn()],
  row: (obj, now) => [name(obj), age(obj, now)],
};

export const namespaceTable: TableDef = {
  columns: [nameColumn(), column('Status', 'The status of the namespace'), ageColumn()],
  row: (obj, now) => [name(obj), (obj as unknown as Namespace).status?.phase ?? '', age(obj, now)],
};

export const configMapTable: TableDef = {
  columns: [nameColumn(), column('Data', 'Number of data in configmap', { type: 'integer' }), ageColumn()],
  row(obj, now) {
    const cm = obj as unknown as ConfigMap;
    return [name(obj), Object.keys(cm.data ?? {}).length + Object.keys(cm.binaryData ?? {}).length, age(obj, now)];
  },
};

export const secretTable: TableDef = {
  columns: [
    nameColumn(),
    column('Type', 'The type of the secret'),
    column('Data', 'The number of entries in the secret', { type: 'integer' }),
    ageColumn(),
  ],
  row(obj, now) {
    const s = obj as unknown as Secret;
    return [name(obj), s.type ?? '', Object.keys(s.data ?? {}).length, age(obj, now)];
  },
};

export const serviceAccountTable: TableDef = {
  columns: [nameColumn(), column('Secrets', 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.', { type: 'integer' }), ageColumn()],
  row: (obj, now) => [name(obj), ((obj as unknown as ServiceAccount).secrets ?? []).length, age(obj, now)],
};

export const leaseTable: TableDef = {
  columns: [nameColumn(), column('Holder', 'holderIdentity contains the identity of the holder of a current lease.'), ageColumn()],
  row: (obj, now) => [name(obj), (obj as unknown as Lease).spec?.holderIdentity ?? '', age(obj, now)],
};

export const runtimeClassTable: TableDef = {
  columns: [nameColumn(), column('Handler', 'handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class.'), ageColumn()],
  row: (obj, now) => [name(obj), (obj as unknown as RuntimeClass).handler ?? '', age(obj, now)],
};

const joinHostPort = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** formatEndpoints: the first three endpoints, then "+ N more...". */
export function formatEndpoints(ep: Endpoints): string {
  const subsets = ep.subsets ?? [];
  if (subsets.length === 0) return '<none>';
  const max = 3;
  const list: string[] = [];
  let more = false;
  let count = 0;
  for (const ss of subsets) {
    const addrs = ss.addresses ?? [];
    if (!ss.ports?.length) {
      count += addrs.length;
      for (const a of addrs) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(a.ip);
      }
      continue;
    }
    for (const port of ss.ports) {
      count += addrs.length;
      for (const a of addrs) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(joinHostPort(a.ip, port.port));
      }
    }
  }
  const ret = list.join(',');
  if (more) return `${ret} + ${count - max} more...`;
  return ret || '<none>';
}

export const endpointsTable: TableDef = {
  columns: [nameColumn(), column('Endpoints', 'Endpoints is the list of endpoints in this resource.'), ageColumn()],
  row: (obj, now) => [name(obj), formatEndpoints(obj as unknown as Endpoints), age(obj, now)],
};

/** upstream printPriorityClass: NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY */
export const priorityClassTable: TableDef = {
  columns: [
    nameColumn(),
    column('Value', 'value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.', { type: 'integer' }),
    column('Global-Default', 'globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.', { type: 'boolean' }),
    ageColumn(),
    column('PreemptionPolicy', 'preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority.'),
  ],
  row(obj, now) {
    const pc = obj as unknown as PriorityClass;
    return [name(obj), pc.value ?? 0, pc.globalDefault ?? false, age(obj, now), pc.preemptionPolicy ?? ''];
  },
};
