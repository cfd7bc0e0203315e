import { statusErrors } from './status.ts';

/** What a response is encoded as, chosen from the Accept header. */
export type OutputFormat =
  | { kind: 'json' }
  | { kind: 'yaml' }
  /** meta.k8s.io Table (get/list/watch of resources) */
  | { kind: 'table'; version: 'v1' | 'v1beta1' }
  /** meta.k8s.io PartialObjectMetadata / PartialObjectMetadataList */
  | { kind: 'partial'; version: 'v1' | 'v1beta1'; list: boolean }
  /** apidiscovery.k8s.io APIGroupDiscoveryList */
  | { kind: 'discovery'; version: 'v2' | 'v2beta1' };

export interface MediaRange {
  type: string;
  subtype: string;
  params: Record<string, string>;
  q: number;
}

export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header || header.trim() === '') return [];
  const out: MediaRange[] = [];
  for (const raw of header.split(',')) {
    const [mt, ...ps] = raw.split(';').map((s) => s.trim());
    if (!mt) continue;
    const [type, subtype = '*'] = mt.toLowerCase().split('/');
    const params: Record<string, string> = {};
    let q = 1;
    for (const p of ps) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      const k = p.slice(0, eq).trim().toLowerCase();
      const v = p.slice(eq + 1).trim().replace(/^"|"$/g, '');
      if (k === 'q') q = Number(v);
      else params[k] = v;
    }
    out.push({ type, subtype, params, q: Number.isFinite(q) ? q : 0 });
  }
  // stable sort by q, highest first
  return out.map((m, i) => ({ m, i })).sort((a, b) => b.m.q - a.m.q || a.i - b.i).map((x) => x.m);
}

export type Target = 'object' | 'list' | 'watch' | 'discovery' | 'other';

/**
 * Choose the output format. Protobuf and other unknown types are skipped, so a client listing
 * JSON after protobuf gets JSON; nothing acceptable -> 406.
 */
export function negotiateOutput(accept: string | undefined, target: Target): OutputFormat {
  // a client sends the same Accept on every request: its outcome, by header and target, is kept
  const key = `${target} ${accept ?? ''}`;
  const known = negotiated.get(key);
  if (known !== undefined) return known;
  const f = negotiate(accept, target);
  if (negotiated.size >= 256) negotiated.clear();
  negotiated.set(key, Object.freeze(f));
  return f;
}

/** outcomes of negotiateOutput (frozen: shared by the requests that sent the same header) */
const negotiated = new Map<string, OutputFormat>();

function negotiate(accept: string | undefined, target: Target): OutputFormat {
  const ranges = parseAccept(accept);
  if (ranges.length === 0) return { kind: 'json' };
  for (const r of ranges) {
    if (r.q <= 0) continue;
    const f = formatFor(r, target);
    if (f) return f;
  }
  throw statusErrors.notAcceptable();
}

function formatFor(r: MediaRange, target: Target): OutputFormat | undefined {
  const wildcardType = r.type === '*';
  const isJson = r.type === 'application' && r.subtype === 'json';
  const isYaml = r.type === 'application' && r.subtype === 'yaml';
  if (wildcardType || (r.type === 'application' && r.subtype === '*')) {
    return Object.keys(r.params).length === 0 ? { kind: 'json' } : undefined;
  }
  if (!isJson && !isYaml) return undefined;
  const as = r.params['as'];
  if (as === undefined) return isJson ? { kind: 'json' } : { kind: 'yaml' };
  if (!isJson) return undefined;
  const g = r.params['g'];
  const v = r.params['v'];
  if (g === 'meta.k8s.io' && (v === 'v1' || v === 'v1beta1')) {
    if (as === 'Table' && (target === 'object' || target === 'list' || target === 'watch')) {
      return { kind: 'table', version: v };
    }
    if (as === 'PartialObjectMetadata' && (target === 'object' || target === 'watch')) {
      return { kind: 'partial', version: v, list: false };
    }
    if (as === 'PartialObjectMetadataList' && target === 'list') return { kind: 'partial', version: v, list: true };
    return undefined;
  }
  if (g === 'apidiscovery.k8s.io' && as === 'APIGroupDiscoveryList' && target === 'discovery') {
    if (v === 'v2' || v === 'v2beta1') return { kind: 'discovery', version: v };
  }
  return undefined;
}

export function contentTypeOf(f: OutputFormat): string {
  switch (f.kind) {
    case 'json':
      return 'application/json';
    case 'yaml':
      return 'application/yaml';
    case 'table':
      return `application/json;as=Table;v=${f.version};g=meta.k8s.io`;
    case 'partial':
      return `application/json;as=${f.list ? 'PartialObjectMetadataList' : 'PartialObjectMetadata'};v=${f.version};g=meta.k8s.io`;
    case 'discovery':
      return `application/json;g=apidiscovery.k8s.io;v=${f.version};as=APIGroupDiscoveryList`;
  }
}

/** Request body media type, lower-cased, without parameters. */
export function mediaTypeOf(contentType: string | undefined): string {
  if (!contentType) return '';
  return contentType.split(';')[0].trim().toLowerCase();
}
