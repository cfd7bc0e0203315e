import type { KubeObject } from '../api/object.ts';
import { parseFieldSelector as parseFields, type FieldSelector } from '../api/fields/index.ts';
import { matches, parseSelector, type Selector } from '../api/labels/index.ts';

/**
 * Selector evaluation for the in-memory fake and informer filters, on the same parsers the
 * apiserver uses. The fake has no per-resource field table, so any dotted path is a field.
 */
export type { FieldSelector, Selector };

export function parseLabelSelector(s: string | undefined): Selector {
  return parseSelector(s ?? '');
}

export function matchLabels(sel: Selector, labels: Record<string, string> | undefined): boolean {
  return matches(sel, labels);
}

export function parseFieldSelector(s: string | undefined): FieldSelector {
  return parseFields(s ?? '');
}

/** Reads a dotted path (`spec.nodeName`) as a string; absent = '' like the apiserver's field sets. */
export function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'string' ? cur : String(cur);
}

export function matchFields(sel: FieldSelector, obj: KubeObject): boolean {
  return sel.requirements.every((r) => (fieldValue(obj, r.field) === r.value) === (r.operator !== '!='));
}
