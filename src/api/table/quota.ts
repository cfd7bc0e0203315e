import type { ResourceQuota } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../object.ts';
import type { TableDef } from '../resources/types.ts';
import { AGE_DESCRIPTION, ageColumn, column, nameColumn } from './columns.ts';
import { since } from './duration.ts';
import { tryParseQuantity } from '../meta/quantity.ts';

/** a status quantity as Quantity.String() prints it; missing is the zero Quantity, "0" */
function shown(list: Record<string, unknown> | undefined, name: string): string {
  const raw = list?.[name];
  if (raw === undefined) return '0';
  const q = tryParseQuantity(String(raw));
  return typeof q === 'string' ? String(raw) : q.toString();
}

/**
 * printResourceQuota: for each spec.hard name in order, `name: used/hard`; the `limits.*` ones in
 * the Limit column, the rest in Request.
 */
export const resourceQuotaTable: TableDef = {
  columns: [
    nameColumn(),
    ageColumn(),
    column('Request', 'Request represents a minimum amount of cpu/memory that a container may consume.'),
    column('Limit', 'Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.'),
  ],
  row(obj, now) {
    const rq = obj as unknown as ResourceQuota;
    const request: string[] = [];
    const limit: string[] = [];
    for (const name of Object.keys(rq.spec?.hard ?? {}).sort()) {
      const cell = `${name}: ${shown(rq.status?.used, name)}/${shown(rq.status?.hard, name)}`;
      (name.split('.')[0] === 'limits' && name.includes('.') ? limit : request).push(cell);
    }
    return [obj.metadata?.name ?? '', since(obj.metadata?.creationTimestamp, now), request.join(', '), limit.join(', ')];
  },
};

/** printLimitRange: the name and the creation time as RFC 3339 */
export const limitRangeTable: TableDef = {
  columns: [nameColumn(), column('Created At', AGE_DESCRIPTION, { type: 'date' })],
  row: (obj: KubeObject) => [obj.metadata?.name ?? '', obj.metadata?.creationTimestamp ?? null],
};
