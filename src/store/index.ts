export type {
  DeleteOptions,
  KeyValue,
  ListOptions,
  ListResult,
  Store,
  UpdateOptions,
  WatchEvent,
  WatchOptions,
  WatchTrigger,
  WriteOptions,
} from './types.ts';
export { MemoryStore, type MemoryStoreOptions } from './memory/memory-store.ts';
export { SqliteStore, type SqliteStoreOptions, type SqliteStoreStats } from './sqlite/sqlite-store.ts';
export { EtcdStore, MIN_ETCD_VERSION, type EtcdStatus, type EtcdStoreOptions } from './etcd/etcd-store.ts';
export { openStore, type StoreConfig } from './open-store.ts';
export { prefixEnd } from './key-range.ts';
export { migrateStore, checksumOf, type MigrateOptions, type MigrateResult } from './migrate.ts';
