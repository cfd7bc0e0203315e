import type { PriorityClass } from 'kubernetes-types/scheduling/v1.js';
import type { FieldCause } from '../../lib/errors.ts';
import { forbidden, invalid, notSupported } from '../meta/field-errors.ts';
import type { KubeObject } from '../object.ts';
import {
  HIGHEST_USER_DEFINABLE_PRIORITY,
  PREEMPTION_POLICIES,
  SYSTEM_PRIORITY_CLASS_PREFIX,
  systemPriorityClass,
  type PreemptionPolicy,
} from '../priority-classes.ts';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** upstream SetDefaults_PriorityClass: preemptionPolicy PreemptLowerPriority; `value` (int32, required) decodes to 0 when absent */
export function defaultPriorityClass(obj: KubeObject): void {
  const pc = obj as unknown as { value?: unknown; preemptionPolicy?: string };
  pc.value ??= 0;
  pc.preemptionPolicy ??= 'PreemptLowerPriority';
}

/** upstream IsKnownSystemPriorityClass's refusal, or undefined when `name` is that system class as it must be */
function systemClassError(name: string, value: number, globalDefault: boolean): string | undefined {
  const spc = systemPriorityClass(name);
  if (!spc) return `${name} is not a known system priority class`;
  if (spc.value !== value) return `value of ${name} PriorityClass must be ${spc.value}`;
  if (globalDefault) return `globalDefault of ${name} PriorityClass must be false`;
  return undefined;
}

/** upstream ValidatePriorityClass (pkg/apis/scheduling/validation), plus the JSON type checks Go's decoder makes */
export function validatePriorityClass(obj: KubeObject): FieldCause[] {
  const pc = obj as unknown as PriorityClass & { value: unknown; globalDefault?: unknown; preemptionPolicy?: unknown };
  const causes: FieldCause[] = [];
  const name = pc.metadata?.name ?? '';
  const value = pc.value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
    causes.push(invalid('value', value, 'must be a 32-bit integer'));
    return causes;
  }
  if (pc.globalDefault !== undefined && typeof pc.globalDefault !== 'boolean') causes.push(invalid('globalDefault', pc.globalDefault, 'must be a boolean'));
  if (name.startsWith(SYSTEM_PRIORITY_CLASS_PREFIX)) {
    const err = systemClassError(name, value, pc.globalDefault === true);
    if (err) {
      causes.push(forbidden('metadata.name', `priority class names with '${SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are reserved for system use only. error: ${err}`));
    }
  } else if (value > HIGHEST_USER_DEFINABLE_PRIORITY) {
    causes.push(forbidden('value', `maximum allowed value of a user defined priority is ${HIGHEST_USER_DEFINABLE_PRIORITY}`));
  }
  const policy = pc.preemptionPolicy;
  if (policy !== undefined && !PREEMPTION_POLICIES.includes(policy as PreemptionPolicy)) {
    causes.push(notSupported('preemptionPolicy', policy, PREEMPTION_POLICIES));
  }
  return causes;
}

/** upstream ValidatePriorityClassUpdate: value and preemptionPolicy are immutable */
export function validatePriorityClassUpdate(obj: KubeObject, oldObj?: KubeObject): FieldCause[] {
  if (!oldObj) return validatePriorityClass(obj);
  const pc = obj as unknown as PriorityClass;
  const old = oldObj as unknown as PriorityClass;
  const causes: FieldCause[] = [];
  if (pc.value !== old.value) causes.push(forbidden('value', 'may not be changed in an update.'));
  if ((pc.preemptionPolicy ?? '') !== (old.preemptionPolicy ?? '')) causes.push(invalid('preemptionPolicy', pc.preemptionPolicy ?? '', 'field is immutable'));
  if (pc.globalDefault !== undefined && typeof pc.globalDefault !== 'boolean') causes.push(invalid('globalDefault', pc.globalDefault, 'must be a boolean'));
  return causes;
}
