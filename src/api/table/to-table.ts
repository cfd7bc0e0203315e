import type { KubeObject } from '../object.ts';
import type { ResourceDef, TableDef } from '../resources/types.ts';
import { defaultTable } from './simple.ts';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface TableRow {
  cells: (string | number | boolean | null)[];
  object?: KubeObject;
}

/** meta.k8s.io/v1 Table, as kubectl requests with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. */
export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: TableColumnDefinition[];
  rows: TableRow[];
}

export interface ToTableOptions {
  now: Date;
  /** what each row's `object` carries; kubectl asks for Metadata (the default upstream too) */
  includeObject?: IncludeObject;
  /** list metadata to copy (resourceVersion, continue) */
  listMeta?: Table['metadata'];
  /** false for follow-up watch events, which upstream sends without column definitions */
  includeColumns?: boolean;
}

function rowObject(obj: KubeObject, mode: IncludeObject): KubeObject | undefined {
  switch (mode) {
    case 'None':
      return undefined;
    case 'Object':
      return obj;
    case 'Metadata':
      return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
    default: {
      const never: never = mode;
      return never;
    }
  }
}

export function tableDefFor(def: Pick<ResourceDef, 'table'> | undefined): TableDef {
  return def?.table ?? defaultTable;
}

export function toTable(def: Pick<ResourceDef, 'table'> | undefined, objs: readonly KubeObject[], opts: ToTableOptions): Table {
  const table = tableDefFor(def);
  const mode = opts.includeObject ?? 'Metadata';
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { ...(opts.listMeta ?? {}) },
    columnDefinitions:
      opts.includeColumns === false
        ? []
        : table.columns.map((c) => ({ name: c.name, type: c.type, format: c.format ?? '', description: c.description, priority: c.priority })),
    rows: objs.map((obj) => {
      const row: TableRow = { cells: table.row(obj, opts.now) };
      const o = rowObject(obj, mode);
      if (o) row.object = o;
      return row;
    }),
  };
}
