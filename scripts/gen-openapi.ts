/**
 * Builds src/api/openapi/generated/definitions.json (OpenAPI v2 definitions keyed by upstream
 * names) from kubernetes-types' .d.ts files, whose JSDoc carries the upstream descriptions.
 * Run: node --import tsx scripts/gen-openapi.ts
 *
 * What the .d.ts files cannot tell us (int32 vs int64, byte strings, patch metadata) comes
 * from small tables here and in src/api/openapi/merge-keys.ts.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ATOMIC_STRUCTS, PATCH_META } from '../src/api/openapi/merge-keys.ts';

type Schema = { [key: string]: unknown };

const require = createRequire(import.meta.url);
const typesRoot = path.dirname(require.resolve('kubernetes-types/package.json'));
const outFile = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/api/openapi/generated/definitions.json');

/** kubernetes-types module path → upstream Go package name used in definition names */
const MODULES: Record<string, string> = {
  'meta/v1': 'io.k8s.apimachinery.pkg.apis.meta.v1',
  'api/resource': 'io.k8s.apimachinery.pkg.api.resource',
  runtime: 'io.k8s.apimachinery.pkg.runtime',
  version: 'io.k8s.apimachinery.pkg.version',
  'core/v1': 'io.k8s.api.core.v1',
  'apps/v1': 'io.k8s.api.apps.v1',
  'batch/v1': 'io.k8s.api.batch.v1',
  'coordination/v1': 'io.k8s.api.coordination.v1',
  'node/v1': 'io.k8s.api.node.v1',
  'rbac/v1': 'io.k8s.api.rbac.v1',
  'policy/v1': 'io.k8s.api.policy.v1',
  'networking/v1': 'io.k8s.api.networking.v1',
  'discovery/v1': 'io.k8s.api.discovery.v1',
  'storage/v1': 'io.k8s.api.storage.v1',
  'scheduling/v1': 'io.k8s.api.scheduling.v1',
  'events/v1': 'io.k8s.api.events.v1',
  'autoscaling/v1': 'io.k8s.api.autoscaling.v1',
  'autoscaling/v2': 'io.k8s.api.autoscaling.v2',
  'authentication/v1': 'io.k8s.api.authentication.v1',
  'authorization/v1': 'io.k8s.api.authorization.v1',
  'certificates/v1': 'io.k8s.api.certificates.v1',
  'admissionregistration/v1': 'io.k8s.api.admissionregistration.v1',
  'flowcontrol/v1': 'io.k8s.api.flowcontrol.v1',
};

/** upstream group name per module (x-kubernetes-group-version-kind); '' for core and meta */
const GROUPS: Record<string, string> = {
  'core/v1': '',
  'meta/v1': '',
  'apps/v1': 'apps',
  'batch/v1': 'batch',
  'coordination/v1': 'coordination.k8s.io',
  'node/v1': 'node.k8s.io',
  'rbac/v1': 'rbac.authorization.k8s.io',
  'policy/v1': 'policy',
  'networking/v1': 'networking.k8s.io',
  'discovery/v1': 'discovery.k8s.io',
  'storage/v1': 'storage.k8s.io',
  'scheduling/v1': 'scheduling.k8s.io',
  'events/v1': 'events.k8s.io',
  'autoscaling/v1': 'autoscaling',
  'autoscaling/v2': 'autoscaling',
  'authentication/v1': 'authentication.k8s.io',
  'authorization/v1': 'authorization.k8s.io',
  'certificates/v1': 'certificates.k8s.io',
  'admissionregistration/v1': 'admissionregistration.k8s.io',
  'flowcontrol/v1': 'flowcontrol.apiserver.k8s.io',
};

const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';

/** Go int64 fields (everything else numeric is int32 in the included groups) */
const INT64: Record<string, string[]> = {
  'meta/v1.ObjectMeta': ['generation', 'deletionGracePeriodSeconds'],
  'meta/v1.ListMeta': ['remainingItemCount'],
  'meta/v1.DeleteOptions': ['gracePeriodSeconds'],
  'meta/v1.Condition': ['observedGeneration'],
  'core/v1.PodSpec': ['activeDeadlineSeconds', 'terminationGracePeriodSeconds'],
  'core/v1.PodSecurityContext': ['runAsUser', 'runAsGroup', 'fsGroup', 'supplementalGroups'],
  'core/v1.SecurityContext': ['runAsUser', 'runAsGroup'],
  'core/v1.Probe': ['terminationGracePeriodSeconds'],
  'core/v1.Toleration': ['tolerationSeconds'],
  'core/v1.ServiceAccountTokenProjection': ['expirationSeconds'],
  'core/v1.ContainerImage': ['sizeBytes'],
  'core/v1.SleepAction': ['seconds'],
  'core/v1.ReplicationControllerStatus': ['observedGeneration'],
  'core/v1.DeleteOptions': ['gracePeriodSeconds'],
  'apps/v1.DeploymentStatus': ['observedGeneration'],
  'apps/v1.StatefulSetStatus': ['observedGeneration'],
  'apps/v1.DaemonSetStatus': ['observedGeneration'],
  'apps/v1.ReplicaSetStatus': ['observedGeneration'],
  'apps/v1.ControllerRevision': ['revision'],
  'batch/v1.JobSpec': ['activeDeadlineSeconds'],
  'batch/v1.CronJobSpec': ['startingDeadlineSeconds'],
  'policy/v1.PodDisruptionBudgetStatus': ['observedGeneration'],
  'autoscaling/v1.HorizontalPodAutoscalerStatus': ['observedGeneration'],
  'autoscaling/v2.HorizontalPodAutoscalerStatus': ['observedGeneration'],
  'storage/v1.TokenRequest': ['expirationSeconds'],
  'authentication/v1.TokenRequestSpec': ['expirationSeconds'],
};

/** map values or strings that are base64 bytes upstream */
const BYTES: Record<string, string[]> = {
  'core/v1.Secret': ['data'],
  'core/v1.ConfigMap': ['binaryData'],
  'certificates/v1.CertificateSigningRequestSpec': ['request'],
  'certificates/v1.CertificateSigningRequestStatus': ['certificate'],
};

/** GVKs upstream sets on meta types that kubernetes-types leaves without literal apiVersion/kind */
const EXTRA_GVK: Record<string, { group: string; version: string; kind: string }[]> = {
  'io.k8s.apimachinery.pkg.apis.meta.v1.Status': [{ group: '', version: 'v1', kind: 'Status' }],
};

/** admissionregistration/v1.Rule's fields that Go inlines into the rule types with operations */
const INLINED_RULE_FIELDS: Record<string, Schema> = {
  resources: {
    description:
      "Resources is a list of resources this rule applies to.\n\nFor example: 'pods' means pods. 'pods/log' means the log subresource of pods. '*' means all resources, but not subresources. 'pods/*' means all subresources of pods. '*/scale' means all scale subresources. '*/*' means all resources and their subresources.\n\nIf wildcard is present, the validation rule will ensure resources do not overlap with each other.\n\nDepending on the enclosing object, subresources might not be allowed. Required.",
    type: 'array',
    items: { type: 'string', default: '' },
    'x-kubernetes-list-type': 'atomic',
  },
  scope: {
    description:
      'scope specifies the scope of this rule. Valid values are "Cluster", "Namespaced", and "*" "Cluster" means that only cluster-scoped resources will match this rule. Namespace API objects are cluster-scoped. "Namespaced" means that only namespaced resources will match this rule. "*" means that there are no scope restrictions. Subresources match the scope of their parent resource. Default is "*".',
    type: 'string',
  },
};

/**
 * Fields upstream added after the kubernetes-types release we generate from (1.30). The server
 * reports v1.32 and kubelets of that version (ours included) write them, so the schema must know
 * them or every write that carries them draws `unknown field` warnings. Drop an entry once
 * kubernetes-types has the field (the generator fails then, so this cannot go stale).
 */
const NEWER_FIELDS: Record<string, Record<string, Schema>> = {
  // 1.32 (KEP-127): the kubelet says per runtime handler whether it supports user namespaces
  'core/v1.NodeRuntimeHandlerFeatures': {
    userNamespaces: {
      description: 'UserNamespaces is set to true if the runtime handler supports UserNamespaces, including for volumes.',
      type: 'boolean',
    },
  },
  // not newer, but lost: Go inlines the embedded Rule into RuleWithOperations and
  // NamedRuleWithOperations and the .d.ts does not, so webhook configurations and admission
  // policies drew `unknown field "webhooks[0].rules[0].resources"`
  'admissionregistration/v1.RuleWithOperations': INLINED_RULE_FIELDS,
  'admissionregistration/v1.NamedRuleWithOperations': INLINED_RULE_FIELDS,
};

/** descriptions and shapes of types that are aliases or inlined in the .d.ts files */
const SPECIAL: Record<string, Schema> = {
  [INT_OR_STRING]: {
    description:
      'IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number.',
    format: 'int-or-string',
    type: 'string',
    'x-kubernetes-int-or-string': true,
  },
};

interface Ctx {
  module: string;
  /** local name → module path, for imported names */
  imports: Map<string, string>;
  /** definition name + field, for the INT64/BYTES tables */
  owner: string;
  field: string;
}

function jsdocOf(node: ts.Node): string | undefined {
  const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
  const last = docs[docs.length - 1];
  if (!last) return undefined;
  const text = ts.getTextOfJSDocComment(last.comment);
  return text ? text.trim() : undefined;
}

function refName(name: string, ctx: Ctx): string {
  const mod = ctx.imports.get(name) ?? ctx.module;
  const pkg = MODULES[mod];
  if (!pkg) throw new Error(`${ctx.module}: reference to ${name} in unmapped module ${mod}`);
  return `${pkg}.${name}`;
}

function typeSchema(node: ts.TypeNode, ctx: Ctx): Schema {
  switch (node.kind) {
    case ts.SyntaxKind.StringKeyword:
      return BYTES[ctx.owner]?.includes(ctx.field) ? { type: 'string', format: 'byte' } : { type: 'string' };
    case ts.SyntaxKind.BooleanKeyword:
      return { type: 'boolean' };
    case ts.SyntaxKind.NumberKeyword:
      return { type: 'integer', format: INT64[ctx.owner]?.includes(ctx.field) ? 'int64' : 'int32' };
    case ts.SyntaxKind.AnyKeyword:
    case ts.SyntaxKind.UnknownKeyword:
      return { type: 'object' };
  }
  if (ts.isLiteralTypeNode(node)) {
    if (ts.isStringLiteral(node.literal)) return { type: 'string' };
  }
  if (ts.isUnionTypeNode(node)) {
    const kinds = node.types.map((t) => t.kind).sort();
    if (kinds.length === 2 && kinds.includes(ts.SyntaxKind.NumberKeyword) && kinds.includes(ts.SyntaxKind.StringKeyword)) {
      return { $ref: `#/definitions/${INT_OR_STRING}` };
    }
  }
  if (ts.isArrayTypeNode(node)) return { type: 'array', items: typeSchema(node.elementType, ctx) };
  if (ts.isTypeReferenceNode(node)) {
    const name = node.typeName.getText();
    if (name === 'Array' && node.typeArguments?.length === 1) {
      return { type: 'array', items: typeSchema(node.typeArguments[0], ctx) };
    }
    return { $ref: `#/definitions/${refName(name, ctx)}` };
  }
  if (ts.isTypeLiteralNode(node)) {
    const index = node.members.find(ts.isIndexSignatureDeclaration);
    if (index && node.members.length === 1) {
      return { type: 'object', additionalProperties: typeSchema(index.type, ctx) };
    }
    if (node.members.length === 0) return { type: 'object' };
  }
  throw new Error(`${ctx.owner}.${ctx.field}: unsupported type ${ts.SyntaxKind[node.kind]} ${node.getText()}`);
}

function literalOf(member: ts.PropertySignature | undefined): string | undefined {
  const t = member?.type;
  return t && ts.isLiteralTypeNode(t) && ts.isStringLiteral(t.literal) ? t.literal.text : undefined;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Schema = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Schema)[key]);
    return out;
  }
  return value;
}

function interfaceSchema(decl: ts.InterfaceDeclaration, mod: string, imports: Map<string, string>): Schema {
  const name = decl.name.text;
  const defName = `${MODULES[mod]}.${name}`;
  const properties: Schema = {};
  const required: string[] = [];
  const members = decl.members.filter(ts.isPropertySignature);
  for (const member of members) {
    const field = member.name.getText().replace(/^"|"$/g, '');
    if (!member.type) continue;
    const schema = typeSchema(member.type, { module: mod, imports, owner: `${mod}.${name}`, field });
    const description = jsdocOf(member);
    if (description) schema.description = description;
    const meta = PATCH_META[defName]?.[field];
    if (meta?.strategy) schema['x-kubernetes-patch-strategy'] = meta.strategy;
    if (meta?.mergeKey) schema['x-kubernetes-patch-merge-key'] = meta.mergeKey;
    if (meta?.listType) schema['x-kubernetes-list-type'] = meta.listType;
    if (meta?.listMapKeys) schema['x-kubernetes-list-map-keys'] = meta.listMapKeys;
    properties[field] = schema;
    if (!member.questionToken) required.push(field);
  }
  for (const [field, schema] of Object.entries(NEWER_FIELDS[`${mod}.${name}`] ?? {})) {
    if (properties[field]) throw new Error(`NEWER_FIELDS: kubernetes-types now has ${mod}.${name}.${field}; drop the entry`);
    properties[field] = schema;
  }
  const out: Schema = { type: 'object' };
  const description = jsdocOf(decl);
  if (description) out.description = description;
  if (members.length > 0) out.properties = properties;
  if (required.length > 0) out.required = required.sort();
  const apiVersion = literalOf(members.find((m) => m.name.getText() === 'apiVersion'));
  const kind = literalOf(members.find((m) => m.name.getText() === 'kind'));
  const group = GROUPS[mod];
  if (apiVersion && kind && group !== undefined) {
    out['x-kubernetes-group-version-kind'] = [{ group, kind, version: apiVersion.split('/').pop() }];
  }
  const extra = EXTRA_GVK[defName];
  if (extra) out['x-kubernetes-group-version-kind'] = extra;
  if (ATOMIC_STRUCTS.has(defName)) out['x-kubernetes-map-type'] = 'atomic';
  if (members.length === 0 && MODULES[mod] === 'io.k8s.apimachinery.pkg.runtime') {
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  return out;
}

function aliasSchema(decl: ts.TypeAliasDeclaration, mod: string): Schema {
  const defName = `${MODULES[mod]}.${decl.name.text}`;
  const description = jsdocOf(decl);
  switch (defName) {
    case 'io.k8s.apimachinery.pkg.api.resource.Quantity':
      return { description, type: 'string', 'x-kubernetes-int-or-string': true };
    case 'io.k8s.apimachinery.pkg.apis.meta.v1.Time':
    case 'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime':
      return { description, format: 'date-time', type: 'string' };
    default:
      throw new Error(`unhandled type alias ${defName}`);
  }
}

export function generate(): Record<string, Schema> {
  const definitions: Record<string, Schema> = { ...SPECIAL };
  for (const mod of Object.keys(MODULES)) {
    const file = path.join(typesRoot, `${mod}.d.ts`);
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const imports = new Map<string, string>();
    for (const stmt of source.statements) {
      if (ts.isImportDeclaration(stmt) && ts.isStringLiteral(stmt.moduleSpecifier)) {
        const target = path.posix.join(path.posix.dirname(mod), stmt.moduleSpecifier.text);
        const bindings = stmt.importClause?.namedBindings;
        if (bindings && ts.isNamedImports(bindings)) {
          for (const el of bindings.elements) imports.set(el.name.text, target);
        }
      }
    }
    for (const stmt of source.statements) {
      if (ts.isInterfaceDeclaration(stmt)) {
        definitions[`${MODULES[mod]}.${stmt.name.text}`] = interfaceSchema(stmt, mod, imports);
      } else if (ts.isTypeAliasDeclaration(stmt)) {
        definitions[`${MODULES[mod]}.${stmt.name.text}`] = aliasSchema(stmt, mod);
      }
    }
  }
  // every table entry must name a real definition and field, or the table has drifted
  for (const [def, fields] of Object.entries(PATCH_META)) {
    const props = definitions[def]?.properties as Schema | undefined;
    if (!props) throw new Error(`merge-keys: no definition ${def}`);
    for (const field of Object.keys(fields)) {
      if (!props[field]) throw new Error(`merge-keys: no field ${def}.${field}`);
    }
  }
  for (const def of ATOMIC_STRUCTS) if (!definitions[def]) throw new Error(`merge-keys: no definition ${def}`);
  for (const owner of Object.keys(NEWER_FIELDS)) {
    const [mod, name] = [owner.slice(0, owner.lastIndexOf('.')), owner.slice(owner.lastIndexOf('.') + 1)];
    if (!definitions[`${MODULES[mod]}.${name}`]) throw new Error(`NEWER_FIELDS: no definition ${owner}`);
  }
  return sortKeys(definitions) as Record<string, Schema>;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const definitions = generate();
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(definitions, null, 1)}\n`);
  console.log(`wrote ${Object.keys(definitions).length} definitions to ${path.relative(process.cwd(), outFile)}`);
}
