import type { ResourceDef, TableDef } from '../resources/types.ts';
import { ageColumn, column, nameColumn } from '../table/columns.ts';
import { since } from '../table/duration.ts';
import type { SpecValidator } from '../validation/for-resource.ts';
import { builtinDef } from './builtin-def.ts';
import {
  defaultMutatingWebhookConfiguration,
  defaultValidatingWebhookConfiguration,
  validateMutatingWebhookConfiguration,
  validateValidatingWebhookConfiguration,
} from '../validation/admission-registration.ts';
import {
  defaultValidatingAdmissionPolicy,
  defaultValidatingAdmissionPolicyBinding,
  validateValidatingAdmissionPolicy,
  validateValidatingAdmissionPolicyBinding,
} from '../validation/admission-policy.ts';
import { isPlainObject, type KubeObject } from '../object.ts';

export const ADMISSION_REGISTRATION_GROUP = 'admissionregistration.k8s.io';

/** upstream's printer: NAME WEBHOOKS AGE */
const webhookConfigurationTable: TableDef = {
  columns: [nameColumn(), column('Webhooks', 'Webhooks indicates the number of webhooks registered in this configuration', { type: 'integer' }), ageColumn()],
  row: (obj: KubeObject, now: Date) => {
    const hooks = (obj as { webhooks?: unknown }).webhooks;
    return [obj.metadata.name ?? '', Array.isArray(hooks) ? hooks.length : 0, since(obj.metadata.creationTimestamp, now)];
  },
};

/** one cluster-scoped kind of the group; `extra` for what differs (status, generation rule) */
const registrationDef = (kind: string, plural: string, defaults: (obj: KubeObject) => void, spec: SpecValidator, table: TableDef, extra: Partial<ResourceDef> = {}): ResourceDef =>
  builtinDef({ group: ADMISSION_REGISTRATION_GROUP, version: 'v1', kind, plural, namespaced: false, categories: ['api-extensions'], table, defaults, spec, ...extra });

function webhookConfigDef(kind: string, plural: string, defaults: (obj: KubeObject) => void, spec: SpecValidator): ResourceDef {
  return registrationDef(kind, plural, defaults, spec, webhookConfigurationTable, {
    // no spec: any change of the webhooks is a new generation
    generationChanged: (a, b) => JSON.stringify((a as { webhooks?: unknown }).webhooks) !== JSON.stringify((b as { webhooks?: unknown }).webhooks),
  });
}

const specOf = (obj: KubeObject): Record<string, unknown> => {
  const s = (obj as { spec?: unknown }).spec;
  return isPlainObject(s) ? s : {};
};

/** upstream's printers: NAME VALIDATIONS PARAMKIND AGE and NAME POLICYNAME PARAMREF AGE */
const policyTable: TableDef = {
  columns: [
    nameColumn(),
    column('Validations', 'Validations indicates the number of validation rules defined in this configuration', { type: 'integer' }),
    column('ParamKind', 'ParamKind specifies the kind of resources used to parameterize this policy'),
    ageColumn(),
  ],
  row: (obj, now) => {
    const s = specOf(obj);
    const pk = isPlainObject(s.paramKind) ? `${String(s.paramKind.apiVersion ?? '')}/${String(s.paramKind.kind ?? '')}` : '<unset>';
    return [obj.metadata.name ?? '', Array.isArray(s.validations) ? s.validations.length : 0, pk, since(obj.metadata.creationTimestamp, now)];
  },
};
const bindingTable: TableDef = {
  columns: [
    nameColumn(),
    column('PolicyName', 'PolicyName indicates the policy definition which the policy binding binded to'),
    column('ParamRef', 'ParamRef indicates the param resource which sets the configration param'),
    ageColumn(),
  ],
  row: (obj, now) => {
    const s = specOf(obj);
    const pr = isPlainObject(s.paramRef) ? s.paramRef : undefined;
    const ref = !pr ? '<unset>' : typeof pr.name === 'string' && pr.name ? (typeof pr.namespace === 'string' && pr.namespace ? `${pr.namespace}/${pr.name}` : `*/${pr.name}`) : '*/*';
    return [obj.metadata.name ?? '', typeof s.policyName === 'string' ? s.policyName : '', ref, since(obj.metadata.creationTimestamp, now)];
  },
};

function policyDef(kind: string, plural: string, withStatus: boolean, defaults: (obj: KubeObject) => void, spec: SpecValidator, table: TableDef): ResourceDef {
  return registrationDef(kind, plural, defaults, spec, table, withStatus ? { subresources: ['status'], hasStatus: true } : {});
}

/**
 * `admissionregistration.k8s.io/v1`: the dynamic admission webhooks' configurations and the
 * ValidatingAdmissionPolicies with their bindings (all cluster-scoped).
 */
export function admissionRegistrationResources(): ResourceDef[] {
  return [
    policyDef('ValidatingAdmissionPolicy', 'validatingadmissionpolicies', true, defaultValidatingAdmissionPolicy, validateValidatingAdmissionPolicy, policyTable),
    policyDef('ValidatingAdmissionPolicyBinding', 'validatingadmissionpolicybindings', false, defaultValidatingAdmissionPolicyBinding, validateValidatingAdmissionPolicyBinding, bindingTable),
    webhookConfigDef('MutatingWebhookConfiguration', 'mutatingwebhookconfigurations', defaultMutatingWebhookConfiguration, validateMutatingWebhookConfiguration),
    webhookConfigDef('ValidatingWebhookConfiguration', 'validatingwebhookconfigurations', defaultValidatingWebhookConfiguration, validateValidatingWebhookConfiguration),
  ];
}
