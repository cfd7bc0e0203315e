import { readFileSync } from 'node:fs';
import { HedgeError } from '../lib/errors.ts';
import { LokiSink } from './loki-sink.ts';
import { RelpSink } from './relp-sink.ts';
import { SyslogStreamSink } from './syslog-stream-sink.ts';
import type { LogSink } from './types.ts';

export const SINK_SCHEMES = ['syslog+tcp', 'syslog+tls', 'syslog+relp', 'loki+http', 'loki+https'] as const;
export type SinkScheme = (typeof SINK_SCHEMES)[number];

export interface SinkSpec {
  scheme: SinkScheme;
  host: string;
  port: number;
  /** syslog+tls: `?ca=/path/ca.pem` */
  caFile?: string;
  /** the URL as given: the sink's name in state, logs and metrics */
  url: string;
}

/** Parses one `--log-sink` URL; the error says what is wrong with which URL. */
export function parseSinkUrl(raw: string): SinkSpec {
  const bad = (why: string): HedgeError => new HedgeError('Invalid', `--log-sink ${raw}: ${why}`);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad(`not a URL; expected one of ${SINK_SCHEMES.map((s) => `${s}://HOST:PORT`).join(', ')}`);
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (!(SINK_SCHEMES as readonly string[]).includes(scheme)) throw bad(`unknown scheme "${scheme}"; expected one of ${SINK_SCHEMES.join(', ')}`);
  if (u.hostname === '') throw bad('no host');
  if (u.port === '') throw bad('no port (syslog has no single default: name it)');
  if (u.pathname !== '' && u.pathname !== '/') throw bad('a path is not allowed');
  const caFile = u.searchParams.get('ca') ?? undefined;
  for (const k of u.searchParams.keys()) if (k !== 'ca' || scheme !== 'syslog+tls') throw bad(`unknown parameter "${k}"`);
  return { scheme: scheme as SinkScheme, host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port), caFile, url: raw };
}

export function createSink(spec: SinkSpec): LogSink {
  const base = { name: spec.url, host: spec.host, port: spec.port };
  switch (spec.scheme) {
    case 'syslog+tcp':
      return new SyslogStreamSink(base);
    case 'syslog+tls': {
      let ca: Buffer | undefined;
      if (spec.caFile !== undefined) {
        try {
          ca = readFileSync(spec.caFile);
        } catch (err) {
          throw new HedgeError('Invalid', `--log-sink ${spec.url}: ca ${spec.caFile}: ${(err as Error).message}`, { cause: err });
        }
      }
      return new SyslogStreamSink({ ...base, tls: { ca } });
    }
    case 'syslog+relp':
      return new RelpSink(base);
    case 'loki+http':
    case 'loki+https': {
      const host = spec.host.includes(':') ? `[${spec.host}]` : spec.host;
      return new LokiSink({ name: spec.url, baseUrl: `${spec.scheme.slice('loki+'.length)}://${host}:${spec.port}` });
    }
    default: {
      const never: never = spec.scheme;
      throw new HedgeError('Invalid', `unknown sink scheme ${String(never)}`);
    }
  }
}
