/**
 * Where the host is in one guest process stream (G_OUTPUT frames carry the byte offset of their
 * first byte). A frame the host already has (a resend after a reconnect) is trimmed or dropped; a
 * frame past a hole (sent on the old connection after bytes the host never got; the guest sends
 * them again from the resume offset) is dropped too: only the next byte in order is accepted.
 */
export class OutputCursor {
  /** bytes of the stream the host has taken */
  received: number;
  /** bytes of resends dropped as already there, and frames dropped past a hole (for the logs) */
  duplicateBytes = 0;
  aheadFrames = 0;

  constructor(received = 0) {
    this.received = received;
  }

  /** the new bytes of a frame at `offset`, or undefined when it brings nothing in order */
  accept(offset: number, data: Buffer): Buffer | undefined {
    if (offset > this.received) {
      this.aheadFrames += 1;
      return undefined;
    }
    const skip = this.received - offset;
    if (skip >= data.length) {
      this.duplicateBytes += data.length;
      return undefined;
    }
    this.duplicateBytes += skip;
    this.received += data.length - skip;
    return skip ? data.subarray(skip) : data;
  }
}
