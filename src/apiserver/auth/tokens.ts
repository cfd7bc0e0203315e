import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HedgeError } from '../../lib/errors.ts';
import { withFileLock } from '../../lib/file-lock.ts';
import type { UserInfo } from './types.ts';

/**
 * Static bearer tokens in kube-apiserver's `--token-auth-file` format, one per line:
 *   token,user,uid,"group1,group2"
 * so the same file can be handed to a real kube-apiserver.
 */
export interface TokenRecord {
  token: string;
  user: UserInfo;
}

/** What the authenticator needs from a token source. */
export interface TokenLookup {
  lookup(token: string): UserInfo | undefined;
}

export const TOKEN_FILE_NAME = 'tokens.csv';
export const NODES_GROUP = 'system:nodes';
export const BOOTSTRAPPERS_GROUP = 'system:bootstrappers';

export function tokenFilePath(dataDir: string): string {
  return join(dataDir, TOKEN_FILE_NAME);
}

/** Split one CSV line (RFC 4180 quoting: "a,b" and "" for a literal quote). */
function splitCsvLine(line: string): string[] | undefined {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  if (quoted) return undefined;
  out.push(cur);
  return out;
}

export function parseTokenCsv(text: string, source = 'token file'): TokenRecord[] {
  const records: TokenRecord[] = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${source}:${i + 1}`;
    const fields = splitCsvLine(line);
    if (fields === undefined) throw new HedgeError('Invalid', `${where}: unterminated quote`);
    if (fields.length < 2) throw new HedgeError('Invalid', `${where}: want token,user[,uid[,"groups"]]`);
    const [token, username, uid, groups] = fields.map((f) => f.trim());
    if (token === '') throw new HedgeError('Invalid', `${where}: empty token`);
    if (username === '') throw new HedgeError('Invalid', `${where}: empty user name`);
    if (seen.has(token)) throw new HedgeError('Invalid', `${where}: duplicate token`);
    seen.add(token);
    const user: UserInfo = {
      username,
      groups: (groups ?? '')
        .split(',')
        .map((g) => g.trim())
        .filter((g) => g !== ''),
    };
    if (uid !== undefined && uid !== '') user.uid = uid;
    records.push({ token, user });
  }
  return records;
}

function csvField(s: string): string {
  return /[",\s]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function formatTokenCsv(records: TokenRecord[]): string {
  return records
    .map((r) => [r.token, r.user.username, r.user.uid ?? '', r.user.groups.join(',')].map(csvField).join(','))
    .map((l) => `${l}\n`)
    .join('');
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** 32 random bytes, base64url: what we hand out as node/user tokens. */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

const BOOTSTRAP_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
function randomLowerAlnum(n: number): string {
  let s = '';
  while (s.length < n) {
    for (const b of randomBytes(n)) {
      // 252 = 7*36: bytes at or above it would bias the alphabet, so they are dropped
      if (b < 252 && s.length < n) s += BOOTSTRAP_ALPHABET[b % 36];
    }
  }
  return s;
}

/**
 * A token table backed by a file (mode 0600). Lookups are constant-time over the
 * token value and pick up edits made by another process (e.g. `hedge` adding a
 * node token while the server runs) by re-reading the file when it changed.
 */
export class TokenFile implements TokenLookup {
  readonly path: string;
  private records: TokenRecord[] = [];
  private digests: Buffer[] = [];
  private stamp = '';

  private constructor(path: string) {
    this.path = path;
  }

  /** Open (or start empty if absent) the token file at `path`; a malformed file is an error naming the line. */
  static async open(path: string): Promise<TokenFile> {
    const f = new TokenFile(path);
    f.reloadIfChanged(true);
    return f;
  }

  list(): TokenRecord[] {
    return this.records.map((r) => ({ token: r.token, user: { ...r.user, groups: [...r.user.groups] } }));
  }

  lookup(token: string): UserInfo | undefined {
    const hit = this.find(token);
    if (hit !== undefined) return hit;
    // a miss may be a token written since we last read the file
    try {
      if (this.reloadIfChanged(false)) return this.find(token);
    } catch {
      // keep serving the last good table when the file is mid-edit or broken
    }
    return undefined;
  }

  private find(token: string): UserInfo | undefined {
    const d = digest(token);
    let found: TokenRecord | undefined;
    // compare against every entry, no early exit: timing must not reveal a prefix match or position
    for (let i = 0; i < this.digests.length; i++) {
      if (timingSafeEqual(d, this.digests[i]) && found === undefined) found = this.records[i];
    }
    return found === undefined ? undefined : { ...found.user, groups: [...found.user.groups] };
  }

  /** returns true when the table was (re)loaded */
  private reloadIfChanged(force: boolean): boolean {
    let stamp: string;
    let text: string;
    try {
      const st = statSync(this.path);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
      if (!force && stamp === this.stamp) return false;
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        const changed = this.stamp !== 'absent';
        this.set([], 'absent');
        return changed;
      }
      throw err;
    }
    this.set(parseTokenCsv(text, this.path), stamp);
    return true;
  }

  private set(records: TokenRecord[], stamp: string): void {
    this.records = records;
    this.digests = records.map((r) => digest(r.token));
    this.stamp = stamp;
  }

  /**
   * Add a token for `user` and persist; returns the token. Under the file's lock, re-read first:
   * another process (the CLI beside a running server, two CLIs at once) may have added one since.
   */
  async add(user: UserInfo, token: string = generateToken()): Promise<string> {
    return this.locked(() => this.addLocked(user, token));
  }

  /** runs `f` holding the file's lock (the lock sits beside the file: its directory made first) */
  private async locked<T>(f: () => Promise<T>): Promise<T> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    return withFileLock(`${this.path}.lock`, f);
  }

  private async addLocked(user: UserInfo, token: string): Promise<string> {
    this.reloadIfChanged(true);
    if (this.find(token) !== undefined) throw new HedgeError('AlreadyExists', 'token already exists');
    this.set([...this.records, { token, user }], this.stamp);
    await this.save();
    return token;
  }

  /** Token for a node agent: user `system:node:<name>`, group `system:nodes` (what NodeRestriction keys on). */
  async createNodeToken(nodeName: string): Promise<string> {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(nodeName) || nodeName.length > 253) {
      throw new HedgeError('Invalid', `node name "${nodeName}" is not a valid DNS subdomain`);
    }
    return this.add({ username: `system:node:${nodeName}`, uid: `node:${nodeName}`, groups: [NODES_GROUP] });
  }

  /**
   * The cluster's bootstrap token (kube format `<id>.<secret>`, user `system:bootstrap:<id>`),
   * created once; later calls return the existing one.
   */
  async ensureBootstrapToken(): Promise<string> {
    return this.locked(async () => {
      this.reloadIfChanged(true);
      const existing = this.records.find((r) => r.user.groups.includes(BOOTSTRAPPERS_GROUP));
      if (existing !== undefined) return existing.token;
      const id = randomLowerAlnum(6);
      return this.addLocked(
        { username: `system:bootstrap:${id}`, uid: `bootstrap:${id}`, groups: [BOOTSTRAPPERS_GROUP] },
        `${id}.${randomLowerAlnum(16)}`,
      );
    });
  }

  /** under `locked`, which made the directory */
  private async save(): Promise<void> {
    const tmp = `${this.path}.tmp-${process.pid}`;
    await writeFile(tmp, formatTokenCsv(this.records), { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.path);
    const st = statSync(this.path);
    this.stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
  }
}
