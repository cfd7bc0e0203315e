/**
 * kine-like layout: the log table IS the store. Every write appends one row whose
 * id is the revision; the current value of a key is its newest row (unless that
 * row is a tombstone). A delete row carries the deleted value, so delete events
 * can be rebuilt from the table alone. prev_revision links a row to the key's
 * previous row, which is what compaction deletes once it is superseded.
 *
 * `current` maps each live key to its newest log row and is written in the same
 * transaction as the log, so reads at the current revision cost O(live keys)
 * instead of grouping the whole history under a prefix.
 *
 * The log has no index by key. A write would have to insert into it, and a compaction delete from
 * it, at a random place for every row: about a quarter of a write's CPU and three quarters of a
 * compaction's (bench/store-history.ts). So a read at an older revision starts from `current` and
 * undoes what was written since: a key unchanged since that revision has its current row; a key
 * written since has, as its value then, the row its first later write superseded (prev_revision),
 * or none when that write created it. That scans the log's rows after the revision (by id),
 * which compaction keeps short, not the key's whole history.
 */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS log (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  created INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  value TEXT NOT NULL
);
-- files written before the log lost its key index (see above)
DROP INDEX IF EXISTS log_name_id;
CREATE TABLE IF NOT EXISTS current (
  name TEXT PRIMARY KEY,
  id INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
`;

export interface LogRow {
  id: number;
  name: string;
  created: number;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  /** TEXT (JSON) or, for a value encrypted at rest, a BLOB of its bytes (../stored-bytes.ts) */
  value: string | Buffer;
}

/** a log row joined with the row it superseded (absent for creates or once compacted away) */
export interface HistoryRow {
  id: number;
  name: string;
  created: number;
  deleted: number;
  create_revision: number;
  value: string | Buffer;
  p_id: number | null;
  p_create_revision: number | null;
  p_value: string | Buffer | null;
}

export interface KvRow {
  id: number;
  name: string;
  create_revision: number;
  value: string | Buffer;
}

/** Upper bound for a range scan with an empty prefix; SQLite compares TEXT as UTF-8 bytes. */
export const MAX_KEY = '\u{10FFFF}';

/**
 * Live keys within [lo, hi) as of revision `at` (≥ the compacted revision), as (name, id) of the
 * row that held each key's value then: the current rows written at or before `at`, and, for each
 * key written after `at`, the row its first write after `at` superseded, unless that write
 * created the key. (An update or a delete always supersedes a live row, and a row superseded
 * after the compacted revision is never compacted away.) Named parameters: lo, hi, at.
 */
const KEYS_AT = `
  SELECT name, id FROM current WHERE name >= $lo AND name < $hi AND id <= $at
  UNION ALL
  SELECT f.name AS name, f.prev_revision AS id
  FROM (SELECT MIN(id) AS first FROM log WHERE id > $at AND name >= $lo AND name < $hi GROUP BY name) w
  JOIN log f ON f.id = w.first
  WHERE f.created = 0`;

/** Live keys within [lo, hi) at the current revision. */
const CURRENT_IN_RANGE = `
  SELECT l.id, l.name, l.create_revision, l.value FROM current c
  JOIN log l ON l.id = c.id
  WHERE c.name >= ? AND c.name < ?`;

export const SQL = {
  begin: 'BEGIN IMMEDIATE',
  commit: 'COMMIT',
  rollback: 'ROLLBACK',
  maxId: 'SELECT COALESCE(MAX(id), 0) AS rev FROM log',
  getMeta: 'SELECT value FROM meta WHERE key = ?',
  setMeta: 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  /** a live key's newest row */
  latest: 'SELECT l.* FROM current c JOIN log l ON l.id = c.id WHERE c.name = ?',
  /** a key's first row after a revision (reads at that revision start from it: KEYS_AT) */
  firstAfter: 'SELECT * FROM log WHERE id > ? AND name = ? ORDER BY id LIMIT 1',
  byId: 'SELECT * FROM log WHERE id = ?',
  insert: `INSERT INTO log (id, name, created, deleted, create_revision, prev_revision, value)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
  list: `
    SELECT l.id, l.name, l.create_revision, l.value
    FROM (${KEYS_AT} ORDER BY name LIMIT $limit) k JOIN log l ON l.id = k.id
    ORDER BY k.name`,
  count: `SELECT COUNT(*) AS n FROM (${KEYS_AT})`,
  listCurrent: `${CURRENT_IN_RANGE} ORDER BY c.name LIMIT ?`,
  countCurrent: 'SELECT COUNT(*) AS n FROM current WHERE name >= ? AND name < ?',
  setCurrent: 'INSERT INTO current (name, id) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET id = excluded.id',
  deleteCurrent: 'DELETE FROM current WHERE name = ?',
  /** fills `current` from the log, for databases written before the table existed */
  rebuildCurrent: `
    INSERT OR REPLACE INTO current (name, id)
    SELECT l.name, l.id FROM log l
    JOIN (SELECT MAX(id) AS id FROM log GROUP BY name) m ON l.id = m.id
    WHERE l.deleted = 0`,
  clearCurrent: 'DELETE FROM current',
  history: `
    SELECT l.id, l.name, l.created, l.deleted, l.create_revision, l.value,
           p.id AS p_id, p.create_revision AS p_create_revision, p.value AS p_value
    FROM log l LEFT JOIN log p ON l.created = 0 AND p.id = l.prev_revision
    WHERE l.name >= ? AND l.name < ? AND l.id >= ? AND l.id <= ?
    ORDER BY l.id LIMIT ?`,
  /** rows superseded by a row in [from, to] */
  compactSuperseded: 'DELETE FROM log WHERE id IN (SELECT prev_revision FROM log WHERE id >= ? AND id <= ?)',
  /** tombstones below the new compacted revision: the key is absent at every readable revision */
  compactTombstones: 'DELETE FROM log WHERE deleted = 1 AND id >= ? AND id < ?',
  rowCount: 'SELECT COUNT(*) AS n FROM log',
} as const;
