/**
 * Protobuf wire format writing: a message is built bottom-up (a nested message is finished
 * before its parent embeds it), so lengths are always known when written.
 */
export class ProtoWriter {
  readonly #parts: Buffer[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  #push(b: Buffer): void {
    this.#parts.push(b);
    this.#length += b.length;
  }

  #varint(n: number): void {
    const bytes: number[] = [];
    let v = n;
    while (v > 0x7f) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
    this.#push(Buffer.from(bytes));
  }

  #tag(field: number, wire: number): void {
    this.#varint(field * 8 + wire);
  }

  /** proto3 omits default values: empty strings, false, 0 */
  string(field: number, s: string | undefined): this {
    if (s === undefined || s === '') return this;
    const b = Buffer.from(s, 'utf8');
    this.#tag(field, 2);
    this.#varint(b.length);
    this.#push(b);
    return this;
  }

  strings(field: number, values: readonly string[] | undefined): this {
    for (const s of values ?? []) {
      const b = Buffer.from(s, 'utf8');
      this.#tag(field, 2);
      this.#varint(b.length);
      this.#push(b);
    }
    return this;
  }

  /** proto3 bytes: omitted when empty */
  bytes(field: number, b: Buffer | undefined): this {
    if (b === undefined || b.length === 0) return this;
    this.#tag(field, 2);
    this.#varint(b.length);
    this.#push(b);
    return this;
  }

  bool(field: number, v: boolean | undefined): this {
    if (!v) return this;
    this.#tag(field, 0);
    this.#varint(1);
    return this;
  }

  /** non-negative integers only (lengths, counts) */
  uint(field: number, v: number | undefined): this {
    if (v === undefined || v === 0) return this;
    this.#tag(field, 0);
    this.#varint(v);
    return this;
  }

  double(field: number, v: number | undefined): this {
    if (v === undefined || v === 0) return this;
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    this.#tag(field, 1);
    this.#push(b);
    return this;
  }

  /** an embedded message; written even when empty (presence matters for oneofs) */
  message(field: number, m: ProtoWriter | undefined): this {
    if (m === undefined) return this;
    this.#tag(field, 2);
    this.#varint(m.#length);
    for (const p of m.#parts) this.#push(p);
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts, this.#length);
  }
}
