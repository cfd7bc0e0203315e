import { z } from 'zod';
import { ConfigError, layerSettings, listenSchema, secondsSchema } from './config-file.ts';
import type { ListenAddress } from './listen-address.ts';

export { ConfigError };

/**
 * `hedge server` settings. Each has a flag and a config-file key of the same name
 * (flag `--data-dir` = key `dataDir`); flags win over the file, the file over defaults.
 */
export interface ServerSettings {
  dataDir: string;
  listen: ListenAddress;
  store: 'sqlite' | 'memory';
  /** extra host names / IPs for the serving certificate */
  advertiseHost: string[];
  logLevel: LogLevel;
  /** run the scheduler and node lifecycle controller in this process */
  controllers: boolean;
  /** seconds without a node heartbeat before the node is Unknown and tainted */
  nodeMonitorGracePeriod: number;
  /** seconds a pod without a matching toleration stays on an unreachable node (autonomous nodes: forever) */
  defaultTolerationSeconds: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Defaults in flag syntax (they go through the same validation as flags). */
export interface ServerDefaults {
  dataDir: string;
  listen: string;
  store: 'sqlite' | 'memory';
  advertiseHost: string[];
  logLevel: LogLevel;
  controllers: boolean;
  nodeMonitorGracePeriod: number;
  defaultTolerationSeconds: number;
}

export const SERVER_DEFAULTS: Readonly<ServerDefaults> = {
  dataDir: '/var/lib/hedge',
  listen: '127.0.0.1:6443',
  store: 'sqlite',
  advertiseHost: [],
  logLevel: 'info',
  controllers: true,
  nodeMonitorGracePeriod: 40,
  defaultTolerationSeconds: 300,
};

/** config key → flag, for error messages */
export const SERVER_FLAGS: Record<keyof ServerSettings, string> = {
  dataDir: '--data-dir',
  listen: '--listen',
  store: '--store',
  advertiseHost: '--advertise-host',
  logLevel: '--log-level',
  controllers: '--no-controllers',
  nodeMonitorGracePeriod: '--node-monitor-grace-period',
  defaultTolerationSeconds: '--default-toleration-seconds',
};

const hostSchema = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9.:-]+$/, 'must be a DNS name or an IP address');

/** The shape of a config file / of the flags given: every key optional, no unknown keys. */
const partialSchema = z.strictObject({
  dataDir: z.string().min(1, 'must not be empty').optional(),
  listen: listenSchema.optional(),
  store: z.enum(['sqlite', 'memory']).optional(),
  // a single string is accepted in the file for convenience
  advertiseHost: z
    .union([hostSchema, z.array(hostSchema)])
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  controllers: z.boolean().optional(),
  nodeMonitorGracePeriod: secondsSchema.optional(),
  defaultTolerationSeconds: secondsSchema.optional(),
});

export interface ResolveOptions {
  /** flags the user gave (undefined = not given) */
  flags: Partial<Record<keyof ServerSettings, unknown>>;
  configFile?: string;
  /** defaults that differ from SERVER_DEFAULTS (e.g. `hedge up`) */
  defaults?: Partial<ServerDefaults>;
}

export async function resolveServerSettings(opts: ResolveOptions): Promise<ServerSettings> {
  const merged = await layerSettings(partialSchema, { flags: opts.flags, flagNames: SERVER_FLAGS, configFile: opts.configFile, defaults: { ...SERVER_DEFAULTS, ...opts.defaults } });
  return {
    dataDir: merged.dataDir!,
    listen: merged.listen!,
    store: merged.store!,
    advertiseHost: merged.advertiseHost ?? [],
    logLevel: merged.logLevel!,
    controllers: merged.controllers!,
    nodeMonitorGracePeriod: merged.nodeMonitorGracePeriod!,
    defaultTolerationSeconds: merged.defaultTolerationSeconds!,
  };
}
