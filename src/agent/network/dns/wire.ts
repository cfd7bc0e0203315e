/**
 * The small subset of the DNS wire format (RFC 1035, 2782, 3596, 6891) the cluster DNS answers
 * with: parse a query's header + question (+ EDNS payload size), and encode a response holding
 * A, AAAA, CNAME, SRV, PTR and SOA records. Names are written uncompressed except the question
 * name, which answers point back to (responses stay small; compression is optional to readers).
 */
import { isIP } from 'node:net';
import { HedgeError } from '../../../lib/errors.ts';

export const RRType = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
export const RCode = { NoError: 0, FormErr: 1, ServFail: 2, NXDomain: 3, NotImp: 4, Refused: 5 } as const;
export type RCodeValue = (typeof RCode)[keyof typeof RCode];
const CLASS_IN = 1;
/** largest UDP answer without EDNS (RFC 1035 4.2.1) */
export const UDP_LIMIT = 512;

export interface Question {
  /** lower-case, without the trailing dot ('' = the root) */
  name: string;
  type: number;
  class: number;
}

export interface Query {
  id: number;
  /** recursion desired, echoed back */
  rd: boolean;
  opcode: number;
  question: Question;
  /** the requester's EDNS UDP payload size, when it sent an OPT record */
  ednsSize?: number;
}

export type RecordData =
  | { type: 'A'; address: string }
  | { type: 'AAAA'; address: string }
  | { type: 'CNAME'; target: string }
  | { type: 'PTR'; target: string }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string }
  | { type: 'SOA'; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };

export type ResourceRecord = RecordData & { name: string; ttl: number };

export interface Response {
  id: number;
  rd: boolean;
  opcode: number;
  /** authoritative answer */
  aa: boolean;
  rcode: RCodeValue;
  question?: Question;
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
  /** echo an OPT record advertising this payload size (the query had one) */
  ednsSize?: number;
}

const formErr = (msg: string): HedgeError => new HedgeError('BadRequest', `dns: ${msg}`);

function readName(buf: Buffer, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let off = start;
  let end = -1;
  for (let jumps = 0; ; ) {
    if (off >= buf.length) throw formErr('name runs past the message');
    const len = buf[off] ?? 0;
    if (len === 0) {
      if (end < 0) end = off + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= buf.length || ++jumps > 16) throw formErr('bad compression pointer');
      if (end < 0) end = off + 2;
      off = ((len & 0x3f) << 8) | (buf[off + 1] ?? 0);
      continue;
    }
    if (len > 63) throw formErr('label longer than 63');
    if (off + 1 + len > buf.length) throw formErr('label runs past the message');
    labels.push(buf.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  const name = labels.join('.').toLowerCase();
  if (name.length > 253) throw formErr('name longer than 253');
  return { name, end };
}

/** Parses a query: the header and its one question; an OPT record in the additional section gives the EDNS size. */
export function parseQuery(buf: Buffer): Query {
  if (buf.length < 12) throw formErr('message shorter than a header');
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) throw formErr('not a query');
  const qd = buf.readUInt16BE(4);
  if (qd !== 1) throw formErr(`${qd} questions`);
  const q = readName(buf, 12);
  if (q.end + 4 > buf.length) throw formErr('question runs past the message');
  const question = { name: q.name, type: buf.readUInt16BE(q.end), class: buf.readUInt16BE(q.end + 2) };
  let off = q.end + 4;
  let ednsSize: number | undefined;
  const rrs = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  for (let i = 0; i < rrs && off < buf.length; i++) {
    const n = readName(buf, off);
    if (n.end + 10 > buf.length) break;
    const type = buf.readUInt16BE(n.end);
    if (type === RRType.OPT && n.name === '') ednsSize = Math.max(UDP_LIMIT, buf.readUInt16BE(n.end + 2));
    off = n.end + 10 + buf.readUInt16BE(n.end + 8);
  }
  return { id: buf.readUInt16BE(0), rd: (flags & 0x0100) !== 0, opcode: (flags >> 11) & 0xf, question, ednsSize };
}

/** The id of any DNS message (0 when too short). */
export const messageId = (buf: Buffer): number => (buf.length >= 2 ? buf.readUInt16BE(0) : 0);

function encodeName(name: string): Buffer {
  if (name === '') return Buffer.from([0]);
  const parts: Buffer[] = [];
  for (const label of name.split('.')) {
    const b = Buffer.from(label, 'latin1');
    if (b.length === 0 || b.length > 63) throw new HedgeError('Internal', `dns: bad label in ${JSON.stringify(name)}`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function ipv4Bytes(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number));
}

function ipv6Bytes(a: string): Buffer {
  const [head = '', tail] = a.split('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  let h = groups(head);
  let t = tail === undefined ? [] : groups(tail);
  // an embedded IPv4 tail (::ffff:1.2.3.4) is two groups
  const v4 = (xs: string[]): string[] => {
    const last = xs[xs.length - 1];
    if (last?.includes('.')) {
      const b = ipv4Bytes(last);
      return [...xs.slice(0, -1), ((b[0] ?? 0) * 256 + (b[1] ?? 0)).toString(16), ((b[2] ?? 0) * 256 + (b[3] ?? 0)).toString(16)];
    }
    return xs;
  };
  if (tail === undefined) h = v4(h);
  else t = v4(t);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function rdata(r: RecordData): Buffer {
  switch (r.type) {
    case 'A':
      return ipv4Bytes(r.address);
    case 'AAAA':
      return ipv6Bytes(r.address);
    case 'CNAME':
    case 'PTR':
      return encodeName(r.target);
    case 'SRV': {
      const head = Buffer.alloc(6);
      head.writeUInt16BE(r.priority, 0);
      head.writeUInt16BE(r.weight, 2);
      head.writeUInt16BE(r.port, 4);
      return Buffer.concat([head, encodeName(r.target)]);
    }
    case 'SOA': {
      const nums = Buffer.alloc(20);
      [r.serial, r.refresh, r.retry, r.expire, r.minimum].forEach((n, i) => nums.writeUInt32BE(n >>> 0, i * 4));
      return Buffer.concat([encodeName(r.mname), encodeName(r.rname), nums]);
    }
  }
}

const TYPE_CODE: Record<RecordData['type'], number> = { A: RRType.A, AAAA: RRType.AAAA, CNAME: RRType.CNAME, PTR: RRType.PTR, SRV: RRType.SRV, SOA: RRType.SOA };

function encodeRecord(r: ResourceRecord, qname: string | undefined): Buffer {
  // the question's name sits at offset 12: point there instead of repeating it
  const name = qname !== undefined && r.name === qname ? Buffer.from([0xc0, 12]) : encodeName(r.name);
  const data = rdata(r);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(TYPE_CODE[r.type], 0);
  fixed.writeUInt16BE(CLASS_IN, 2);
  fixed.writeUInt32BE(r.ttl, 4);
  fixed.writeUInt16BE(data.length, 8);
  return Buffer.concat([name, fixed, data]);
}

function header(res: Response, counts: [number, number, number, number], tc: boolean): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(res.id, 0);
  // QR, opcode, AA, TC, RD, RA (we forward, so recursion is available), rcode
  const flags = 0x8000 | (res.opcode << 11) | (res.aa ? 0x0400 : 0) | (tc ? 0x0200 : 0) | (res.rd ? 0x0100 : 0) | 0x0080 | res.rcode;
  h.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => h.writeUInt16BE(c, 4 + i * 2));
  return h;
}

function optRecord(size: number): Buffer {
  const b = Buffer.alloc(11);
  b.writeUInt8(0, 0);
  b.writeUInt16BE(RRType.OPT, 1);
  b.writeUInt16BE(size, 3);
  return b;
}

/**
 * Encodes a response. With `limit` (UDP), a message that would not fit keeps its question and
 * drops the additional section, then all records, setting TC so the client retries over TCP.
 */
export function encodeResponse(res: Response, limit?: number): Buffer {
  const q = res.question;
  const qbuf = q ? Buffer.concat([encodeName(q.name), Buffer.from([q.type >> 8, q.type & 0xff, q.class >> 8, q.class & 0xff])]) : Buffer.alloc(0);
  const qname = q?.name;
  const ans = res.answers.map((r) => encodeRecord(r, qname));
  const auth = res.authority.map((r) => encodeRecord(r, qname));
  const add = res.additional.map((r) => encodeRecord(r, qname));
  const opt = res.ednsSize !== undefined ? [optRecord(res.ednsSize)] : [];
  const size = (bufs: Buffer[]): number => bufs.reduce((n, b) => n + b.length, 0);
  const build = (a: Buffer[], n: Buffer[], d: Buffer[], tc: boolean): Buffer =>
    Buffer.concat([header(res, [q ? 1 : 0, a.length, n.length, d.length + opt.length], tc), qbuf, ...a, ...n, ...d, ...opt]);
  const full = 12 + qbuf.length + size(ans) + size(auth) + size(add) + size(opt);
  if (limit === undefined || full <= limit) return build(ans, auth, add, false);
  // additional records are optional: dropping them is not truncation (RFC 2181 9)
  if (12 + qbuf.length + size(ans) + size(auth) + size(opt) <= limit) return build(ans, auth, [], false);
  return build([], [], [], true);
}

/** The reverse-lookup name of an address: 4.3.2.1.in-addr.arpa, or the nibbles under ip6.arpa. */
export function reverseName(address: string): string {
  if (isIP(address) === 4) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  const hex = ipv6Bytes(address).toString('hex');
  return `${[...hex].reverse().join('.')}.ip6.arpa`;
}

export interface ParsedMessage {
  id: number;
  flags: { qr: boolean; aa: boolean; tc: boolean; rd: boolean; ra: boolean };
  rcode: number;
  questions: Question[];
  /** every record of the answer, authority and additional sections, decoded where the type is one of ours */
  answers: ParsedRecord[];
  authority: ParsedRecord[];
  additional: ParsedRecord[];
}

export type ParsedRecord = { name: string; type: number; ttl: number; data: RecordData | { type: 'raw'; bytes: Buffer } };

function parseRecordData(buf: Buffer, type: number, off: number, len: number): ParsedRecord['data'] {
  switch (type) {
    case RRType.A:
      return { type: 'A', address: [...buf.subarray(off, off + 4)].join('.') };
    case RRType.AAAA: {
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(off + i).toString(16));
      return { type: 'AAAA', address: groups.join(':') };
    }
    case RRType.CNAME:
      return { type: 'CNAME', target: readName(buf, off).name };
    case RRType.PTR:
      return { type: 'PTR', target: readName(buf, off).name };
    case RRType.SRV:
      return { type: 'SRV', priority: buf.readUInt16BE(off), weight: buf.readUInt16BE(off + 2), port: buf.readUInt16BE(off + 4), target: readName(buf, off + 6).name };
    case RRType.SOA: {
      const m = readName(buf, off);
      const r = readName(buf, m.end);
      const n = (i: number): number => buf.readUInt32BE(r.end + i * 4);
      return { type: 'SOA', mname: m.name, rname: r.name, serial: n(0), refresh: n(1), retry: n(2), expire: n(3), minimum: n(4) };
    }
    default:
      return { type: 'raw', bytes: buf.subarray(off, off + len) };
  }
}

/** Decodes any message (tests and tools read answers with it). */
export function parseMessage(buf: Buffer): ParsedMessage {
  if (buf.length < 12) throw formErr('message shorter than a header');
  const flags = buf.readUInt16BE(2);
  let off = 12;
  const questions: Question[] = [];
  for (let i = 0; i < buf.readUInt16BE(4); i++) {
    const n = readName(buf, off);
    questions.push({ name: n.name, type: buf.readUInt16BE(n.end), class: buf.readUInt16BE(n.end + 2) });
    off = n.end + 4;
  }
  const section = (count: number): ParsedRecord[] => {
    const out: ParsedRecord[] = [];
    for (let i = 0; i < count; i++) {
      const n = readName(buf, off);
      if (n.end + 10 > buf.length) throw formErr('record runs past the message');
      const type = buf.readUInt16BE(n.end);
      const len = buf.readUInt16BE(n.end + 8);
      out.push({ name: n.name, type, ttl: buf.readUInt32BE(n.end + 4), data: parseRecordData(buf, type, n.end + 10, len) });
      off = n.end + 10 + len;
    }
    return out;
  };
  const answers = section(buf.readUInt16BE(6));
  const authority = section(buf.readUInt16BE(8));
  const additional = section(buf.readUInt16BE(10));
  return {
    id: buf.readUInt16BE(0),
    flags: { qr: (flags & 0x8000) !== 0, aa: (flags & 0x0400) !== 0, tc: (flags & 0x0200) !== 0, rd: (flags & 0x0100) !== 0, ra: (flags & 0x0080) !== 0 },
    rcode: flags & 0xf,
    questions,
    answers,
    authority,
    additional,
  };
}

/** A query message for one question (recursion desired); `ednsSize` adds an OPT record. */
export function encodeQuery(id: number, name: string, type: number, ednsSize?: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x0100, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(ednsSize === undefined ? 0 : 1, 10);
  const q = Buffer.concat([encodeName(name), Buffer.from([type >> 8, type & 0xff, 0, CLASS_IN])]);
  return Buffer.concat([h, q, ...(ednsSize === undefined ? [] : [optRecord(ednsSize)])]);
}
