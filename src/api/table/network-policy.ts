import type { NetworkPolicy } from 'kubernetes-types/networking/v1.js';
import type { TableDef } from '../resources/types.ts';
import { ageColumn, column, nameColumn } from './columns.ts';
import { since } from './duration.ts';
import { formatSelector } from './workloads.ts';

/** upstream's printer: NAME POD-SELECTOR AGE (an empty selector prints `<none>`) */
export const networkPolicyTable: TableDef = {
  columns: [nameColumn(), column('Pod-Selector', 'Backwards compatibility for pre-v1.9 clients; the pods this policy selects.'), ageColumn()],
  row(obj, now) {
    const np = obj as unknown as NetworkPolicy;
    return [np.metadata?.name ?? '', formatSelector(np.spec?.podSelector), since(np.metadata?.creationTimestamp, now)];
  },
};
