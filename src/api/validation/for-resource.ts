import type { FieldCause } from '../../lib/errors.ts';
import type { KubeObject } from '../object.ts';
import { validateObjectMeta, validateObjectMetaUpdate } from '../meta/object-meta.ts';
import type { NameValidator } from '../meta/name.ts';

export type SpecValidator = (obj: KubeObject, old?: KubeObject) => FieldCause[];

/**
 * Combines ObjectMeta rules with a resource's own checks into the shape ResourceDef.validate
 * wants: create validates the whole object, update also enforces metadata immutability.
 */
export function objectValidator(opts: {
  namespaced: boolean;
  nameFn: NameValidator;
  spec?: SpecValidator;
  update?: SpecValidator;
}): (obj: KubeObject, old?: KubeObject) => FieldCause[] {
  return (obj, old) => {
    const causes = validateObjectMeta(obj.metadata, { namespaced: opts.namespaced, nameFn: opts.nameFn });
    if (old) {
      causes.push(...validateObjectMetaUpdate(obj.metadata, old.metadata).filter((c) => !causes.some((x) => x.field === c.field && x.message === c.message)));
      causes.push(...(opts.update ?? opts.spec ?? (() => []))(obj, old));
    } else if (opts.spec) {
      causes.push(...opts.spec(obj));
    }
    return causes;
  };
}
