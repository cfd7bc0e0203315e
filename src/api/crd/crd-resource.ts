import type { KubeObject } from '../object.ts';
import type { ResourceDef } from '../resources/types.ts';
import { column, nameColumn } from '../table/columns.ts';
import { nameIsDNSSubdomain } from '../meta/name.ts';
import { objectValidator } from '../validation/for-resource.ts';
import { validateCrd } from './crd-validation.ts';
import { CRD_GROUP, CRD_PLURAL, type CrdObject } from './types.ts';

/** apiextensions.k8s.io/v1 CustomResourceDefinition as a served type (its controller lives in the apiserver). */
export function crdResourceDef(): ResourceDef {
  return {
    group: CRD_GROUP,
    version: 'v1',
    kind: 'CustomResourceDefinition',
    listKind: 'CustomResourceDefinitionList',
    plural: CRD_PLURAL,
    singular: 'customresourcedefinition',
    shortNames: ['crd', 'crds'],
    categories: ['api-extensions'],
    namespaced: false,
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: ['status'],
    hasStatus: true,
    defaults: defaultCrd,
    validate: objectValidator({ namespaced: false, nameFn: nameIsDNSSubdomain, spec: (obj) => validateCrd(obj), update: validateCrd }),
    openapiDefinitions: crdDefinitions(),
    table: {
      columns: [nameColumn(), column('Created At', 'creationTimestamp', { type: 'date' })],
      row: (obj) => [obj.metadata.name ?? '', obj.metadata.creationTimestamp ?? ''],
    },
  };
}

/** SetDefaults_CustomResourceDefinition: conversion None, singular and listKind from kind. */
function defaultCrd(obj: KubeObject): void {
  const crd = obj as CrdObject;
  const s = crd.spec as Partial<CrdObject['spec']> | undefined;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return;
  s.conversion ??= { strategy: 'None' };
  const names = s.names;
  if (typeof names === 'object' && names !== null && typeof names.kind === 'string' && names.kind !== '') {
    names.singular ??= names.kind.toLowerCase();
    names.listKind ??= `${names.kind}List`;
  }
}

const PKG = 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1';
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

/**
 * The CRD kind for OpenAPI (kubectl explain, apply, fieldValidation detection). spec and status
 * keep unknown fields here: the generated types lack the x-kubernetes-* schema keys, and
 * validateCrd checks them properly.
 */
function crdDefinitions(): Record<string, Record<string, unknown>> {
  const gvk = (kind: string): { group: string; version: string; kind: string }[] => [{ group: CRD_GROUP, version: 'v1', kind }];
  const free = (description: string): Record<string, unknown> => ({ description, type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
  return {
    [`${PKG}.CustomResourceDefinition`]: {
      description: 'CustomResourceDefinition represents a resource that should be exposed on the API server.  Its name MUST be in the format <.spec.name>.<.spec.group>.',
      type: 'object',
      required: ['spec'],
      properties: {
        apiVersion: { description: 'APIVersion defines the versioned schema of this representation of an object.', type: 'string' },
        kind: { description: 'Kind is a string value representing the REST resource this object represents.', type: 'string' },
        metadata: { $ref: `#/definitions/${META}.ObjectMeta`, description: "Standard object's metadata." },
        spec: free('spec describes how the user wants the resources to appear'),
        status: free('status indicates the actual state of the CustomResourceDefinition'),
      },
      'x-kubernetes-group-version-kind': gvk('CustomResourceDefinition'),
    },
    [`${PKG}.CustomResourceDefinitionList`]: {
      description: 'CustomResourceDefinitionList is a list of CustomResourceDefinition objects.',
      type: 'object',
      required: ['items'],
      properties: {
        apiVersion: { type: 'string' },
        items: { type: 'array', items: { $ref: `#/definitions/${PKG}.CustomResourceDefinition` } },
        kind: { type: 'string' },
        metadata: { $ref: `#/definitions/${META}.ListMeta` },
      },
      'x-kubernetes-group-version-kind': gvk('CustomResourceDefinitionList'),
    },
  };
}
