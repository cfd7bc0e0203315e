export {
  DEFAULT_ISSUER,
  SERVICE_ACCOUNTS_GROUP,
  SERVICE_ACCOUNT_USER_PREFIX,
  ServiceAccountTokens,
  loadOrCreateServiceAccountKey,
  verifyServiceAccountToken,
  type IssueRequest,
  type ServiceAccountTokenOptions,
  type VerifyOptions,
} from './token-signer.ts';
export { tokenRequestProvider } from './token-request.ts';
export { withServiceAccountTokens } from './authenticator.ts';
