import type { LogRecord } from './types.ts';

/** RFC 5612's documentation enterprise number, as SD-ID `hedge@32473`. */
export const SD_ID = 'hedge@32473';

/** facility user (1); stdout → informational (6), stderr → error (3) */
const PRI = { stdout: 8 + 6, stderr: 8 + 3 } as const;

/** RFC 5424 PARAM-VALUE escaping: `"`, `\` and `]` get a backslash. */
function sdValue(v: string): string {
  return v.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** PRINTUSASCII without space, cut to `max` (RFC 5424 header fields); `-` when empty. */
function headerField(v: string, max: number): string {
  const clean = v.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** RFC 3339 as RFC 5424 allows it: at most six fractional digits. */
export function syslogTimestamp(raw: string): string {
  return raw.replace(/\.(\d{6})\d+/, '.$1');
}

/** One record as an RFC 5424 message (no framing). */
export function formatSyslog(r: LogRecord): string {
  const l = r.labels;
  const sd =
    `[${SD_ID} node="${sdValue(l.node)}" namespace="${sdValue(l.namespace)}" pod="${sdValue(l.pod)}" ` +
    `container="${sdValue(l.container)}" stream="${r.stream}" uid="${sdValue(l.podUid)}" id="${sdValue(r.id)}"]`;
  return `<${PRI[r.stream]}>1 ${syslogTimestamp(r.rawTime)} ${headerField(l.node, 255)} ${headerField(l.container, 48)} ${headerField(l.pod, 128)} ${r.stream} ${sd} ${r.message}`;
}

/** RFC 6587 octet-counted framing: `LEN SP MSG`, LEN in bytes. */
export function octetCounted(msg: string): Buffer {
  const body = Buffer.from(msg, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}
