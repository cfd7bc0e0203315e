import { nameIsDNSSubdomain, type NameValidator } from '../meta/name.ts';
import type { ResourceDef, Verb } from '../resources/types.ts';
import { objectValidator, type SpecValidator } from '../validation/for-resource.ts';

/** Verbs every ordinary upstream resource serves. */
export const ALL_VERBS: readonly Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** What a built-in type says about itself; the rest has upstream's usual value. */
export type BuiltinDefInput = Omit<ResourceDef, 'listKind' | 'singular' | 'verbs' | 'subresources' | 'hasStatus' | 'shortNames' | 'categories' | 'validate'> &
  Partial<Pick<ResourceDef, 'singular' | 'verbs' | 'subresources' | 'hasStatus' | 'shortNames' | 'categories'>> & {
    /** name rule for metadata.name (default DNS-1123 subdomain, as for most kinds) */
    nameFn?: NameValidator;
    spec?: SpecValidator;
    update?: SpecValidator;
  };

/**
 * One built-in type's ResourceDef: listKind `<Kind>List`, singular the lower-cased kind, all of
 * upstream's verbs, no subresources, status, short names or categories unless given, and
 * validation of metadata (scope, name rule) plus `spec`/`update`.
 */
export function builtinDef(b: BuiltinDefInput): ResourceDef {
  const { nameFn, spec, update, ...rest } = b;
  return {
    listKind: `${b.kind}List`,
    singular: b.kind.toLowerCase(),
    subresources: [],
    hasStatus: false,
    shortNames: [],
    categories: [],
    ...rest,
    verbs: [...(b.verbs ?? ALL_VERBS)],
    validate: objectValidator({ namespaced: b.namespaced, nameFn: nameFn ?? nameIsDNSSubdomain, spec, update }),
  };
}
