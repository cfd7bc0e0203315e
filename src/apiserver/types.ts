import type { Logger } from '../lib/log.ts';
import type { Store } from '../store/types.ts';
import type { Authenticator } from './auth/types.ts';

export interface TlsMaterial {
  /** PEM */
  cert: string;
  key: string;
  /** CA bundle that signs client certificates */
  clientCa: string;
}

export interface ApiServerConfig {
  host: string;
  /** 0 = pick a free port */
  port: number;
  store: Store;
  logger: Logger;
  /** undefined = plain HTTP (tests only); the CLI always passes TLS */
  tls?: TlsMaterial;
  authenticator: Authenticator;
  /** max request body, bytes (default 3 MiB like kube-apiserver) */
  maxBodyBytes?: number;
}

export interface ApiServer {
  /** e.g. https://127.0.0.1:6443 */
  readonly url: string;
  close(): Promise<void>;
}
