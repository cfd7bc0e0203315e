import { isIP } from 'node:net';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parse `HOST:PORT` / `[IPv6]:PORT`; returns an error message instead of throwing so callers can name the flag. */
export function parseListenAddress(s: string): ListenAddress | string {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s.trim());
  if (m === null) return `"${s}" is not HOST:PORT (IPv6 as [::1]:6443)`;
  const host = m[1] ?? m[2];
  if (host === '') return `"${s}" has no host (use 0.0.0.0:PORT to listen on all addresses)`;
  if (m[1] !== undefined && isIP(host) !== 6) return `"${host}" in brackets is not an IPv6 address`;
  const port = Number(m[3]);
  if (port > 65535) return `port ${port} is out of range 0-65535`;
  return { host, port };
}

export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A wildcard listen address is not something a client can dial; clients use loopback instead. */
export function dialableHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}
