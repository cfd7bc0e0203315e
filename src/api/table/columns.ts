import type { TableColumn } from '../resources/types.ts';

export const NAME_DESCRIPTION =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names';
export const AGE_DESCRIPTION =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

export const nameColumn = (): TableColumn => ({ name: 'Name', type: 'string', format: 'name', description: NAME_DESCRIPTION, priority: 0 });
export const ageColumn = (): TableColumn => ({ name: 'Age', type: 'string', description: AGE_DESCRIPTION, priority: 0 });

export function column(name: string, description: string, opts: { type?: TableColumn['type']; priority?: number; format?: string } = {}): TableColumn {
  const c: TableColumn = { name, type: opts.type ?? 'string', description, priority: opts.priority ?? 0 };
  if (opts.format) c.format = opts.format;
  return c;
}
