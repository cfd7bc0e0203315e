import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import { parseListenAddress } from './listen-address.ts';

/** Raised for bad flags or config; the CLI turns it into exit code 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** where(key) prefixes each message with the flag or file key at fault */
export type Where = (key: string) => string;

function describeIssues(err: z.ZodError, where: Where): string {
  return err.issues
    .map((i) => {
      const key = String(i.path[0] ?? '');
      if (i.code === 'unrecognized_keys') return `${where('')}unknown key(s) ${i.keys.map((k) => `"${k}"`).join(', ')}`;
      return `${where(key)}${i.message}`;
    })
    .join('; ');
}

/** parse `input` with `schema` or throw a ConfigError naming every offending flag or key */
export function validateSettings<S extends z.ZodType>(schema: S, input: unknown, where: Where): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new ConfigError(describeIssues(r.error, where));
  return r.data;
}

/** a YAML config file (keys = flag names in camelCase) validated by `schema`; empty file = {} */
export async function loadConfigFile<S extends z.ZodType>(schema: S, path: string): Promise<z.output<S> | Record<string, never>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`--config ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`--config ${path}: not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`--config ${path}: want a mapping of keys`);
  return validateSettings(schema, doc, (key) => (key === '' ? `config file ${path}: ` : `config file ${path}: key "${key}": `));
}

/**
 * Flags over config file over defaults, each validated by `schema` with errors naming the flag,
 * the file key or the default at fault. A flag left undefined (or an empty list) is not given.
 */
export async function layerSettings<S extends z.ZodType<object>>(
  schema: S,
  opts: { flags: Record<string, unknown>; flagNames: Record<string, string>; configFile?: string; defaults: Record<string, unknown> },
): Promise<z.output<S>> {
  const given = Object.fromEntries(Object.entries(opts.flags).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)));
  const fromFlags = validateSettings(schema, given, (key) => `${opts.flagNames[key] ?? key}: `);
  const fromFile = opts.configFile === undefined ? {} : await loadConfigFile(schema, opts.configFile);
  const defaults = validateSettings(schema, opts.defaults, (key) => `default ${key}: `);
  return { ...defaults, ...fromFile, ...fromFlags } as z.output<S>;
}

/** `--listen HOST:PORT` as a schema (the parse error is the message) */
export const listenSchema = z.string().transform((s, ctx) => {
  const r = parseListenAddress(s);
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: r });
    return z.NEVER;
  }
  return r;
});

/** a positive whole number of seconds (flags arrive as strings) */
export const secondsSchema = z.coerce.number().int('must be a whole number of seconds').positive('must be > 0');
