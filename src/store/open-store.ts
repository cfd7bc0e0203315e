import type { Logger } from '../lib/log.ts';
import { EtcdStore, type EtcdStoreOptions } from './etcd/etcd-store.ts';
import { MemoryStore, type MemoryStoreOptions } from './memory/memory-store.ts';
import { SqliteStore, type SqliteStoreOptions } from './sqlite/sqlite-store.ts';
import type { Store } from './types.ts';

export type StoreConfig =
  | ({ kind: 'memory' } & MemoryStoreOptions)
  | ({ kind: 'sqlite' } & SqliteStoreOptions)
  | ({ kind: 'etcd' } & EtcdStoreOptions);

/** Builds the configured Store; `logger` is used when the config names none. */
export async function openStore(config: StoreConfig, logger?: Logger): Promise<Store> {
  switch (config.kind) {
    case 'memory': {
      const { kind: _kind, ...opts } = config;
      return new MemoryStore(opts);
    }
    case 'sqlite': {
      const { kind: _kind, ...opts } = config;
      return new SqliteStore({ logger, ...opts });
    }
    case 'etcd': {
      const { kind: _kind, ...opts } = config;
      return new EtcdStore({ logger, ...opts });
    }
    default: {
      const never: never = config;
      throw new Error(`unknown store kind ${JSON.stringify(never)}`);
    }
  }
}
