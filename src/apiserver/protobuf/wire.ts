import { HedgeError } from '../../lib/errors.ts';

/** Protobuf wire format reading (varints, length-delimited fields), enough for Kubernetes objects. */

export type WireValue = { wire: 0; value: bigint } | { wire: 1; value: Buffer } | { wire: 2; value: Buffer } | { wire: 5; value: Buffer };

export interface WireField {
  field: number;
  v: WireValue;
}

const malformed = (what: string): HedgeError => new HedgeError('BadRequest', `malformed protobuf body: ${what}`);

export function readFields(buf: Buffer): WireField[] {
  const out: WireField[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw malformed('truncated varint');
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw malformed('varint too long');
    }
  };
  while (pos < buf.length) {
    const tag = varint();
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (field === 0) throw malformed('field number 0');
    switch (wire) {
      case 0:
        out.push({ field, v: { wire: 0, value: varint() } });
        break;
      case 1:
        if (pos + 8 > buf.length) throw malformed('truncated fixed64');
        out.push({ field, v: { wire: 1, value: buf.subarray(pos, pos + 8) } });
        pos += 8;
        break;
      case 2: {
        const len = Number(varint());
        if (len < 0 || pos + len > buf.length) throw malformed('truncated length-delimited field');
        out.push({ field, v: { wire: 2, value: buf.subarray(pos, pos + len) } });
        pos += len;
        break;
      }
      case 5:
        if (pos + 4 > buf.length) throw malformed('truncated fixed32');
        out.push({ field, v: { wire: 5, value: buf.subarray(pos, pos + 4) } });
        pos += 4;
        break;
      default:
        throw malformed(`unsupported wire type ${wire}`);
    }
  }
  return out;
}
