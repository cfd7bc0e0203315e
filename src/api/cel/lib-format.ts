import type { Environment } from '@marcbachmann/cel-js';
import { celJs } from './cel-js.ts';
import { isDNS1035Label, isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidLabelValue } from '../meta/name-formats.ts';

/** A named format: validate(s) returns optional.none() when s is valid, else the error messages. */
export class CelFormat {
  constructor(readonly name: string, readonly check: (s: string) => string[]) {}
}

/** the `format` namespace */
class FormatLibrary {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** upstream masks a trailing dash with an 'a' to validate a generateName-style prefix */
const prefix = (f: (s: string) => string[]) => (s: string): string[] => f(s.endsWith('-') ? `${s.slice(0, -1)}a` : s);

const FORMATS: Record<string, (s: string) => string[]> = {
  dns1123Label: isDNS1123Label,
  dns1123Subdomain: isDNS1123Subdomain,
  dns1035Label: isDNS1035Label,
  qualifiedName: isQualifiedName,
  dns1123LabelPrefix: prefix(isDNS1123Label),
  dns1123SubdomainPrefix: prefix(isDNS1123Subdomain),
  dns1035LabelPrefix: prefix(isDNS1035Label),
  labelValue: isValidLabelValue,
  uri: (s) => {
    try {
      new URL(s, s.startsWith('/') ? 'http://relative.invalid' : undefined);
      return [];
    } catch {
      return ['invalid URI'];
    }
  },
  uuid: (s) => (UUID.test(s) ? [] : ['does not match the UUID format']),
  byte: (s) => (/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s) ? [] : ['invalid base64']),
  date: (s) => (/^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) ? [] : ['invalid date']),
  datetime: (s) => (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)) ? [] : ['invalid datetime']),
};

/**
 * k8s.io/apiserver/pkg/cel/library/format.go: `format.<name>()`, `format.named(name)` and
 * `<format>.validate(string)`.
 */
export function registerFormatLibrary(env: Environment): void {
  env.registerType('kubernetes.NamedFormat', CelFormat);
  env.registerType('kubernetes.FormatLibrary', FormatLibrary);
  env.registerConstant('format', 'kubernetes.FormatLibrary', new FormatLibrary());
  for (const [name, check] of Object.entries(FORMATS)) {
    const f = new CelFormat(name, check);
    env.registerFunction(`kubernetes.FormatLibrary.${name}(): kubernetes.NamedFormat`, () => f);
  }
  env.registerFunction('kubernetes.FormatLibrary.named(string): optional<kubernetes.NamedFormat>', (_: FormatLibrary, name: string) => {
    const check = Object.hasOwn(FORMATS, name) ? FORMATS[name] : undefined;
    const { Optional } = celJs();
    return check ? Optional.of(new CelFormat(name, check)) : Optional.none();
  });
  env.registerFunction('kubernetes.NamedFormat.validate(string): optional<list<string>>', (f: CelFormat, s: string) => {
    const errs = f.check(s);
    const { Optional } = celJs();
    return errs.length ? Optional.of(errs) : Optional.none();
  });
}
