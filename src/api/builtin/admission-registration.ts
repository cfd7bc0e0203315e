import type { ResourceDef, TableDef } from '../resources/types.ts';
import { nameIsDNSSubdomain } from '../meta/name.ts';
import { ageColumn, column, nameColumn } from '../table/columns.ts';
import { since } from '../table/duration.ts';
import { objectValidator, type SpecValidator } from '../validation/for-resource.ts';
import {
  defaultMutatingWebhookConfiguration,
  defaultValidatingWebhookConfiguration,
  validateMutatingWebhookConfiguration,
  validateValidatingWebhookConfiguration,
} from '../validation/admission-registration.ts';
import type { KubeObject } from '../object.ts';

export const ADMISSION_REGISTRATION_GROUP = 'admissionregistration.k8s.io';

/** upstream's printer: NAME WEBHOOKS AGE */
const webhookConfigurationTable: TableDef = {
  columns: [nameColumn(), column('Webhooks', 'Webhooks indicates the number of webhooks registered in this configuration', { type: 'integer' }), ageColumn()],
  row: (obj: KubeObject, now: Date) => {
    const hooks = (obj as { webhooks?: unknown }).webhooks;
    return [obj.metadata.name ?? '', Array.isArray(hooks) ? hooks.length : 0, since(obj.metadata.creationTimestamp, now)];
  },
};

function webhookConfigDef(kind: string, plural: string, defaults: (obj: KubeObject) => void, spec: SpecValidator): ResourceDef {
  return {
    group: ADMISSION_REGISTRATION_GROUP,
    version: 'v1',
    kind,
    listKind: `${kind}List`,
    plural,
    singular: kind.toLowerCase(),
    shortNames: [],
    categories: ['api-extensions'],
    namespaced: false,
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: [],
    hasStatus: false,
    table: webhookConfigurationTable,
    defaults,
    validate: objectValidator({ namespaced: false, nameFn: nameIsDNSSubdomain, spec }),
    // no spec: any change of the webhooks is a new generation
    generationChanged: (a, b) => JSON.stringify((a as { webhooks?: unknown }).webhooks) !== JSON.stringify((b as { webhooks?: unknown }).webhooks),
  };
}

/** `admissionregistration.k8s.io/v1`: the dynamic admission webhooks' configurations (cluster-scoped). */
export function admissionRegistrationResources(): ResourceDef[] {
  return [
    webhookConfigDef('MutatingWebhookConfiguration', 'mutatingwebhookconfigurations', defaultMutatingWebhookConfiguration, validateMutatingWebhookConfiguration),
    webhookConfigDef('ValidatingWebhookConfiguration', 'validatingwebhookconfigurations', defaultValidatingWebhookConfiguration, validateValidatingWebhookConfiguration),
  ];
}
