import { isStaticPod } from '../../api/static-pod.ts';
import type { ConfigMap, Container, EnvVar, Pod, Secret, Service } from 'kubernetes-types/core/v1.js';
import { podFieldRefValue } from '../../api/fields/pod-field-ref.ts';
import { Quantity } from '../../api/meta/quantity.ts';
import { Resources } from '../../client/resources.ts';
import type { KubeClient } from '../../client/types.ts';
import { HedgeError, isHedgeError } from '../../lib/errors.ts';
import { expandVars } from './command.ts';
import { serviceEnv } from './service-env.ts';

export interface EnvContext {
  pod: Pod;
  client: KubeClient;
  podIP?: string;
  hostIP?: string;
  /** for resourceFieldRef when the container sets no limit */
  nodeAllocatable: { cpuMilli: number; memoryBytes: number };
  /**
   * the cluster's Services, for the service variables (service-env.ts); undefined: not read yet
   * (the container waits, as the kubelet's does). Omitted: no service variables (tests)
   */
  services?: () => readonly Service[] | undefined;
  signal: AbortSignal;
}

/**
 * The container environment in upstream order: image Env, the service variables, then envFrom,
 * then env (later wins), each value `$(VAR)`-expanded against what came before (the service
 * variables included, as upstream's mapping function). A missing non-optional configMap or
 * secret throws HedgeError('NotFound', 'configmap "x" not found') — the pod shows it as
 * CreateContainerConfigError.
 */
export async function resolveEnv(ctx: EnvContext, c: Container, imageEnv: readonly string[] = []): Promise<Map<string, string>> {
  const env = new Map<string, string>();
  for (const kv of imageEnv) {
    const i = kv.indexOf('=');
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  if (ctx.services) {
    // upstream: a static pod does not wait for the Service list (there may be no apiserver at all)
    const services = ctx.services() ?? (isStaticPod(ctx.pod) ? [] : undefined);
    if (!services) throw new HedgeError('Unavailable', 'services have not yet been read at least once, cannot construct envvars');
    for (const [k, v] of serviceEnv(services, ctx.pod.metadata?.namespace ?? 'default', ctx.pod.spec?.enableServiceLinks ?? true)) env.set(k, v);
  }
  const cms = new Map<string, ConfigMap | undefined>();
  const secrets = new Map<string, Secret | undefined>();
  const getCm = async (name: string, optional: boolean): Promise<ConfigMap | undefined> => {
    if (!cms.has(name)) cms.set(name, await fetchOptional<ConfigMap>(ctx, 'configmap', name));
    const cm = cms.get(name);
    if (!cm && !optional) throw new HedgeError('NotFound', `configmap "${name}" not found`);
    return cm;
  };
  const getSecret = async (name: string, optional: boolean): Promise<Secret | undefined> => {
    if (!secrets.has(name)) secrets.set(name, await fetchOptional<Secret>(ctx, 'secret', name));
    const s = secrets.get(name);
    if (!s && !optional) throw new HedgeError('NotFound', `secret "${name}" not found`);
    return s;
  };

  for (const src of c.envFrom ?? []) {
    const prefix = src.prefix ?? '';
    if (src.configMapRef) {
      const cm = await getCm(src.configMapRef.name ?? '', src.configMapRef.optional ?? false);
      for (const [k, v] of Object.entries(cm?.data ?? {})) env.set(prefix + k, v);
    } else if (src.secretRef) {
      const s = await getSecret(src.secretRef.name ?? '', src.secretRef.optional ?? false);
      for (const [k, v] of Object.entries(s?.data ?? {})) env.set(prefix + k, Buffer.from(v, 'base64').toString('utf8'));
    }
  }

  for (const e of c.env ?? []) {
    const v = await envValue(ctx, c, e, env, getCm, getSecret);
    if (v !== undefined) env.set(e.name, v);
  }
  return env;
}

async function envValue(
  ctx: EnvContext,
  c: Container,
  e: EnvVar,
  env: Map<string, string>,
  getCm: (name: string, optional: boolean) => Promise<ConfigMap | undefined>,
  getSecret: (name: string, optional: boolean) => Promise<Secret | undefined>,
): Promise<string | undefined> {
  if (!e.valueFrom) return expandVars(e.value ?? '', env);
  const vf = e.valueFrom;
  if (vf.configMapKeyRef) {
    const { name = '', key, optional = false } = vf.configMapKeyRef;
    const cm = await getCm(name, optional);
    const v = cm?.data?.[key] ?? (cm?.binaryData?.[key] !== undefined ? Buffer.from(cm.binaryData[key], 'base64').toString('utf8') : undefined);
    if (v === undefined && cm && !optional) throw new HedgeError('NotFound', `couldn't find key ${key} in ConfigMap ${ctx.pod.metadata?.namespace}/${name}`);
    return v;
  }
  if (vf.secretKeyRef) {
    const { name = '', key, optional = false } = vf.secretKeyRef;
    const s = await getSecret(name, optional);
    const raw = s?.data?.[key];
    if (raw === undefined && s && !optional) throw new HedgeError('NotFound', `couldn't find key ${key} in Secret ${ctx.pod.metadata?.namespace}/${name}`);
    return raw === undefined ? undefined : Buffer.from(raw, 'base64').toString('utf8');
  }
  if (vf.fieldRef) return podFieldRefValue(ctx.pod, vf.fieldRef.fieldPath, { kind: 'env', podIP: ctx.podIP, hostIP: ctx.hostIP });
  if (vf.resourceFieldRef) {
    const r = vf.resourceFieldRef;
    const target = r.containerName ? [...(ctx.pod.spec?.containers ?? []), ...(ctx.pod.spec?.initContainers ?? [])].find((x) => x.name === r.containerName) ?? c : c;
    return resourceFieldValue(ctx, target, r.resource, r.divisor === undefined ? undefined : String(r.divisor));
  }
  return undefined;
}

function resourceFieldValue(ctx: EnvContext, c: Container, resource: string, divisor: string | undefined): string {
  const [kind, name] = resource.split('.') as [string, string];
  const bag = kind === 'limits' ? c.resources?.limits : c.resources?.requests;
  const set = bag?.[name];
  let nanos: bigint;
  if (set !== undefined) nanos = Quantity.parse(String(set)).nanos;
  else if (name === 'cpu') nanos = kind === 'limits' ? BigInt(ctx.nodeAllocatable.cpuMilli) * 1_000_000n : 0n;
  else if (name === 'memory') nanos = kind === 'limits' ? BigInt(ctx.nodeAllocatable.memoryBytes) * 1_000_000_000n : 0n;
  else nanos = 0n;
  const d = Quantity.parse(divisor ?? '1').nanos || 1_000_000_000n;
  // upstream rounds up (ceil) to whole divisor units
  return String((nanos + d - 1n) / d);
}

async function fetchOptional<T>(ctx: EnvContext, kind: 'configmap' | 'secret', name: string): Promise<T | undefined> {
  try {
    const res = kind === 'configmap' ? Resources.configmaps : Resources.secrets;
    return (await ctx.client.get(res, name, { namespace: ctx.pod.metadata?.namespace, signal: ctx.signal })) as unknown as T;
  } catch (err) {
    if (isHedgeError(err, 'NotFound')) return undefined;
    throw err;
  }
}
