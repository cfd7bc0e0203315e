import type { LimitRange } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../object.ts';

/**
 * SetDefaults_LimitRangeItem for `type: Container`: a missing default limit is the max, a
 * missing default request the default limit, else the min (empty lists stay absent, as Go's
 * omitempty leaves them).
 */
export function defaultLimitRange(obj: KubeObject): void {
  const lr = obj as unknown as LimitRange;
  for (const item of Array.isArray(lr.spec?.limits) ? lr.spec.limits : []) {
    if (item?.type !== 'Container') continue;
    const def = { ...item.default };
    const defReq = { ...item.defaultRequest };
    for (const [k, v] of Object.entries(item.max ?? {})) if (!(k in def)) def[k] = v;
    for (const [k, v] of Object.entries(def)) if (!(k in defReq)) defReq[k] = v;
    for (const [k, v] of Object.entries(item.min ?? {})) if (!(k in defReq)) defReq[k] = v;
    if (Object.keys(def).length > 0) item.default = def;
    if (Object.keys(defReq).length > 0) item.defaultRequest = defReq;
  }
}
