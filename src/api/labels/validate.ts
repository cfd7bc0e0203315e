import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import { child, forbidden, index, invalid, required } from '../meta/field-errors.ts';
import { isQualifiedName, isValidLabelValue } from '../meta/name-formats.ts';

/** metav1validation.ValidateLabels: one cause per problem, path is the labels map itself. */
export function validateLabels(labels: Record<string, string> | undefined, path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    for (const msg of isQualifiedName(k)) causes.push(invalid(path, k, msg));
    if (typeof v !== 'string') {
      causes.push(invalid(path, v, 'label values must be strings'));
      continue;
    }
    for (const msg of isValidLabelValue(v)) causes.push(invalid(path, v, msg));
  }
  return causes;
}

/** metav1validation.ValidateLabelSelector for selectors stored in objects. */
export function validateLabelSelector(ls: LabelSelector | undefined, path: string): FieldCause[] {
  if (!ls) return [];
  const causes: FieldCause[] = [];
  (ls.matchExpressions ?? []).forEach((expr, i) => {
    const p = index(child(path, 'matchExpressions'), i);
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) causes.push(required(child(p, 'values'), 'must be specified when `operator` is \'In\' or \'NotIn\''));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) causes.push(forbidden(child(p, 'values'), 'may not be specified when `operator` is \'Exists\' or \'DoesNotExist\''));
        break;
      default:
        causes.push(invalid(child(p, 'operator'), expr.operator, 'not a valid selector operator'));
    }
    for (const msg of isQualifiedName(expr.key ?? '')) causes.push(invalid(child(p, 'key'), expr.key ?? '', msg));
  });
  causes.push(...validateLabels(ls.matchLabels, child(path, 'matchLabels')));
  return causes;
}

