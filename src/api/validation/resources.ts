import type { FieldCause } from '../../lib/errors.ts';
import { child, invalid, key } from '../meta/field-errors.ts';
import { isQualifiedName } from '../meta/name-formats.ts';
import { tryParseQuantity, type Quantity } from '../meta/quantity.ts';

type ResourceList = Record<string, unknown> | undefined;

const STANDARD = new Set(['cpu', 'memory', 'ephemeral-storage', 'storage', 'pods']);

/** Standard names, hugepages-<size>, or a domain-prefixed extended resource (example.com/gpu). */
function resourceNameErrors(name: string): string[] {
  if (STANDARD.has(name) || name.startsWith('hugepages-')) return [];
  const qn = isQualifiedName(name);
  if (qn.length) return qn;
  if (!name.includes('/')) return ['must be a standard resource type or fully qualified'];
  return [];
}

/** Parses and validates a ResourceList; returns the parsed quantities for further checks. */
export function validateResourceList(list: ResourceList, path: string, causes: FieldCause[]): Map<string, Quantity> {
  const parsed = new Map<string, Quantity>();
  for (const [name, raw] of Object.entries(list ?? {})) {
    const p = key(path, name);
    for (const msg of resourceNameErrors(name)) causes.push(invalid(p, name, msg));
    const q = tryParseQuantity(typeof raw === 'number' ? String(raw) : (raw as string));
    if (typeof q === 'string') {
      causes.push(invalid(p, raw, q));
      continue;
    }
    if (q.sign() < 0) {
      causes.push(invalid(p, q.toString(), 'must be greater than or equal to 0'));
      continue;
    }
    parsed.set(name, q);
  }
  return parsed;
}

/** ValidateResourceRequirements: parseable quantities and requests ≤ limits. */
export function validateResourceRequirements(
  res: { requests?: ResourceList; limits?: ResourceList } | undefined,
  path: string,
): FieldCause[] {
  const causes: FieldCause[] = [];
  if (!res) return causes;
  const limits = validateResourceList(res.limits, child(path, 'limits'), causes);
  const requests = validateResourceList(res.requests, child(path, 'requests'), causes);
  for (const [name, req] of requests) {
    const lim = limits.get(name);
    if (lim && req.cmp(lim) > 0) {
      causes.push(
        invalid(key(child(path, 'requests'), name), req.toString(), `must be less than or equal to ${name} limit of ${lim.toString()}`),
      );
    }
  }
  return causes;
}
