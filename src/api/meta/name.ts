import { isDNS1035Label, isDNS1123Label, isDNS1123Subdomain } from './name-formats.ts';

/**
 * Validates an object name, or a generateName prefix when `prefix` is true. Returns problems
 * (empty = valid), as apimachinery's ValidateNameFunc does.
 */
export type NameValidator = (name: string, prefix: boolean) => string[];

/** A generateName prefix may end in '-' since random characters follow it. */
function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? `${name.slice(0, -1)}a` : name;
}

export const nameIsDNSSubdomain: NameValidator = (name, prefix) =>
  isDNS1123Subdomain(prefix ? maskTrailingDash(name) : name);

export const nameIsDNSLabel: NameValidator = (name, prefix) => isDNS1123Label(prefix ? maskTrailingDash(name) : name);

export const nameIsDNS1035Label: NameValidator = (name, prefix) => isDNS1035Label(prefix ? maskTrailingDash(name) : name);

/** Names become URL path segments, so these would break routing whatever the resource. */
export function validatePathSegmentName(name: string, prefix: boolean): string[] {
  if (!prefix && (name === '.' || name === '..')) return [`may not be '${name}'`];
  const errs: string[] = [];
  for (const bad of ['/', '%']) if (name.includes(bad)) errs.push(`may not contain '${bad}'`);
  return errs;
}

/** Upstream's alphabet for generated suffixes: no vowels (no accidental words), no 0/1/3 look-alikes. */
export const GENERATE_NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const MAX_NAME_LENGTH = 63;
const RANDOM_LENGTH = 5;
const MAX_GENERATED_BASE_LENGTH = MAX_NAME_LENGTH - RANDOM_LENGTH;

/**
 * names.SimpleNameGenerator: base (cut to 58 chars) + 5 random characters.
 * `random` returns a float in [0,1) and is injectable so tests are deterministic.
 */
export function generateName(base: string, random: () => number = Math.random): string {
  const cut = base.length > MAX_GENERATED_BASE_LENGTH ? base.slice(0, MAX_GENERATED_BASE_LENGTH) : base;
  let suffix = '';
  for (let i = 0; i < RANDOM_LENGTH; i++) {
    suffix += GENERATE_NAME_ALPHABET[Math.floor(random() * GENERATE_NAME_ALPHABET.length) % GENERATE_NAME_ALPHABET.length];
  }
  return cut + suffix;
}
