export type { Authenticator, UserInfo } from './types.ts';
export { AUTHENTICATED_GROUP, createAuthenticator, type AuthenticatorOptions } from './authenticator.ts';
export {
  DEFAULT_SERVER_HOSTS,
  certificateHosts,
  ensurePki,
  generateCa,
  generateClientCert,
  generateServingCert,
  type ClientCertOptions,
  type EnsurePkiOptions,
  type Pki,
  type PkiPaths,
} from './pki.ts';
export {
  BOOTSTRAPPERS_GROUP,
  NODES_GROUP,
  TOKEN_FILE_NAME,
  TokenFile,
  formatTokenCsv,
  generateToken,
  parseTokenCsv,
  tokenFilePath,
  type TokenLookup,
  type TokenRecord,
} from './tokens.ts';
export { renderKubeconfig, writeKubeconfig, type KubeconfigOptions } from './kubeconfig.ts';
