/**
 * Service environment variables, as the kubelet sets them (pkg/kubelet/envvars): for every
 * Service of the pod's namespace with a cluster IP (when spec.enableServiceLinks, the default),
 * and always for `kubernetes` in `default` (the apiserver's: in-cluster clients read
 * KUBERNETES_SERVICE_HOST/PORT), `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`,
 * `<NAME>_SERVICE_PORT_<PORTNAME>` and Docker's link variables (`<NAME>_PORT`,
 * `<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`). A service of the pod's own namespace wins
 * over `default/kubernetes` of the same name. Pure.
 */
import type { Service } from 'kubernetes-types/core/v1.js';
import { isIPv6 } from 'node:net';

const MASTER_SERVICES = new Set(['kubernetes']);

/** upstream's makeEnvVariableName */
const envName = (s: string): string => s.replaceAll('-', '_').toUpperCase();

const hasClusterIP = (s: Service): boolean => !!s.spec?.clusterIP && s.spec.clusterIP !== 'None' && (s.spec.ports?.length ?? 0) > 0;

export function serviceEnv(services: readonly Service[], namespace: string, enableServiceLinks: boolean): Map<string, string> {
  const chosen = new Map<string, Service>();
  for (const s of services) {
    if (!hasClusterIP(s)) continue;
    const name = s.metadata?.name ?? '';
    const ns = s.metadata?.namespace ?? '';
    if (ns === 'default' && MASTER_SERVICES.has(name)) {
      if (!chosen.has(name)) chosen.set(name, s);
    } else if (ns === namespace && enableServiceLinks) {
      chosen.set(name, s);
    }
  }
  const env = new Map<string, string>();
  for (const s of chosen.values()) {
    const prefix = envName(s.metadata?.name ?? '');
    const ip = s.spec?.clusterIP ?? '';
    const ports = s.spec?.ports ?? [];
    env.set(`${prefix}_SERVICE_HOST`, ip);
    env.set(`${prefix}_SERVICE_PORT`, String(ports[0].port));
    for (const p of ports) if (p.name) env.set(`${prefix}_SERVICE_PORT_${envName(p.name)}`, String(p.port));
    const host = isIPv6(ip) ? `[${ip}]` : ip;
    ports.forEach((p, i) => {
      const proto = (p.protocol ?? 'TCP').toLowerCase();
      const url = `${proto}://${host}:${p.port}`;
      // Docker special-cases the first port
      if (i === 0) env.set(`${prefix}_PORT`, url);
      const pp = `${prefix}_PORT_${p.port}_${proto.toUpperCase()}`;
      env.set(pp, url);
      env.set(`${pp}_PROTO`, proto);
      env.set(`${pp}_PORT`, String(p.port));
      env.set(`${pp}_ADDR`, ip);
    });
  }
  return env;
}
