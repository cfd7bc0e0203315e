import type { FieldCause } from '../../lib/errors.ts';
import { invalid, required } from '../meta/field-errors.ts';
import type { KubeObject } from '../object.ts';

/**
 * k8s.cni.cncf.io/v1 NetworkAttachmentDefinition (the Multus CRD, served built in): `spec.config`
 * holds a CNI network configuration as a JSON string, either one plugin (`{"type": ...}`) or a
 * conflist (`{"plugins": [...]}`). Multus also accepts an empty config (then it looks for a file
 * of that name on the node); hedge nodes have no such files, so the config is required.
 */

/** A CNI config parsed from `spec.config`: always a list (a single plugin becomes a one-entry list, as libcni's ConfListFromConf does). */
export interface ParsedCniConfig {
  cniVersion?: string;
  /** the `name` of the config; undefined when it has none (the NAD's name is used then) */
  name?: string;
  plugins: ({ type: string } & Record<string, unknown>)[];
}

export type CniConfigParse = { ok: true; config: ParsedCniConfig } | { ok: false; message: string };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** a CNI plugin type is the binary's file name */
const TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Parses a CNI config or conflist; the message says what is wrong in the user's terms. */
export function parseCniConfig(text: string): CniConfigParse {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `must be a JSON CNI config: ${(e as Error).message}` };
  }
  if (!isObj(doc)) return { ok: false, message: 'must be a JSON object (a CNI config or conflist)' };
  if (doc.cniVersion !== undefined && typeof doc.cniVersion !== 'string') return { ok: false, message: 'cniVersion must be a string' };
  if (doc.name !== undefined && typeof doc.name !== 'string') return { ok: false, message: 'name must be a string' };
  if (doc.plugins !== undefined && !Array.isArray(doc.plugins)) return { ok: false, message: 'plugins must be a list' };
  const raw: unknown[] = Array.isArray(doc.plugins) ? doc.plugins : [doc];
  if (raw.length === 0) return { ok: false, message: 'plugins must not be empty' };
  const plugins: ParsedCniConfig['plugins'] = [];
  for (const [i, p] of raw.entries()) {
    const where = doc.plugins !== undefined ? `plugins[${i}]` : 'the config';
    if (!isObj(p)) return { ok: false, message: `${where} must be an object` };
    if (typeof p.type !== 'string' || p.type === '') return { ok: false, message: `${where} has no "type" (the CNI plugin to run)` };
    if (!TYPE_RE.test(p.type)) return { ok: false, message: `${where}: type ${JSON.stringify(p.type)} is not a plugin name` };
    if (p.ipam !== undefined && (!isObj(p.ipam) || (p.ipam.type !== undefined && typeof p.ipam.type !== 'string'))) {
      return { ok: false, message: `${where}: ipam must be an object with a string type` };
    }
    const { name: _n, cniVersion: _v, ...rest } = p;
    plugins.push({ ...rest, type: p.type });
  }
  return {
    ok: true,
    config: {
      ...(typeof doc.cniVersion === 'string' ? { cniVersion: doc.cniVersion } : {}),
      ...(typeof doc.name === 'string' ? { name: doc.name } : {}),
      plugins,
    },
  };
}

export function validateNetworkAttachmentDefinition(obj: KubeObject): FieldCause[] {
  const spec = (obj as { spec?: unknown }).spec;
  if (spec === undefined || spec === null) return [required('spec.config', 'a JSON CNI config')];
  if (!isObj(spec)) return [invalid('spec', spec, 'must be an object')];
  const config = spec.config;
  if (config === undefined || config === null || config === '') return [required('spec.config', 'a JSON CNI config')];
  if (typeof config !== 'string') return [invalid('spec.config', config, 'must be a string holding a JSON CNI config')];
  const parsed = parseCniConfig(config);
  // the value itself can be long: name the field and the fault, not the whole text
  return parsed.ok ? [] : [{ field: 'spec.config', reason: 'FieldValueInvalid', message: `Invalid value: ${parsed.message}` }];
}
