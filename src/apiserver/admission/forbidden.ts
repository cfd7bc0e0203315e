import { HedgeError, type FieldCause } from '../../lib/errors.ts';
import type { AdmissionRequest } from './types.ts';

/**
 * upstream admission.NewForbidden: `<resource>[.<group>] "<name>" is forbidden: <reason>`, a 403
 * Status naming the object; `causes` point a client at the field at fault.
 */
export function admissionForbidden(req: AdmissionRequest, reason: string, causes?: FieldCause[]): HedgeError {
  const { def } = req;
  const qualified = def.group ? `${def.plural}.${def.group}` : def.plural;
  return new HedgeError('Forbidden', `${qualified} "${req.name}" is forbidden: ${reason}`, {
    details: { kind: def.plural, group: def.group, name: req.name, ...(causes ? { causes } : {}) },
  });
}
