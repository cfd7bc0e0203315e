import { createHash } from 'node:crypto';
import { HedgeError } from '../../lib/errors.ts';

export const sha256Digest = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** only sha256 is accepted: it is what every registry and runtime uses, and it keeps paths simple */
export function digestHex(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new HedgeError('Invalid', `unsupported or malformed digest "${digest}"`);
  return m[1];
}

/** chain id per the OCI image spec: identifies a layer together with everything under it */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256Digest(`${out[out.length - 1]} ${d}`));
  return out;
}
