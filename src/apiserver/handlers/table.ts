import type { KubeObject } from '../../api/object.ts';
import type { ResourceDef, TableColumn } from '../../api/resources/types.ts';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableRow {
  cells: (string | number | boolean | null)[];
  object?: unknown;
}

export interface Table {
  kind: 'Table';
  apiVersion: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: TableColumn[];
  rows: TableRow[];
}

export type TableConverter = (
  def: ResourceDef,
  objs: KubeObject[],
  opts: { now: Date; includeObject: IncludeObject },
) => Pick<Table, 'columnDefinitions' | 'rows'>;

const defaultColumns: TableColumn[] = [
  { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
  {
    name: 'Created At',
    type: 'date',
    description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
    priority: 0,
  },
];

export function partialObjectMetadata(obj: KubeObject, version = 'v1'): { kind: string; apiVersion: string; metadata: KubeObject['metadata'] } {
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: obj.metadata };
}

export function rowObject(obj: KubeObject, include: IncludeObject): unknown {
  switch (include) {
    case 'None':
      return undefined;
    case 'Metadata':
      return partialObjectMetadata(obj);
    case 'Object':
      return obj;
  }
}

/**
 * Server-side printing (upstream TableConvertor): the ResourceDef's columns when it has them,
 * else upstream's default Name / Created At table.
 */
export const defaultTableConverter: TableConverter = (def, objs, { now, includeObject }) => {
  if (def.table) {
    const t = def.table;
    return {
      columnDefinitions: t.columns,
      rows: objs.map((o) => ({ cells: t.row(o, now), object: rowObject(o, includeObject) })),
    };
  }
  return {
    columnDefinitions: defaultColumns,
    rows: objs.map((o) => ({
      cells: [o.metadata.name ?? '', o.metadata.creationTimestamp ?? null],
      object: rowObject(o, includeObject),
    })),
  };
};
