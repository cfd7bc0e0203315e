import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef } from '../../api/resources/types.ts';
import { toTable, type IncludeObject, type Table } from '../../api/table/index.ts';

export type { IncludeObject, Table };

export type TableConverter = (
  def: ResourceDef,
  objs: KubeObject[],
  opts: { now: Date; includeObject: IncludeObject; includeColumns?: boolean },
) => Pick<Table, 'columnDefinitions' | 'rows'>;

export function partialObjectMetadata(obj: KubeObject, version = 'v1'): { kind: string; apiVersion: string; metadata: KubeObject['metadata'] } {
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: obj.metadata };
}

/** Server-side printing through the ResourceDef's table (upstream TableConvertor). */
export const defaultTableConverter: TableConverter = (def, objs, opts) => {
  const t = toTable(def, objs, opts);
  return { columnDefinitions: t.columnDefinitions, rows: t.rows };
};
