// the options alone (no jose, no undici): the CLI validates flags without loading the authenticator
/**
 * kube-apiserver's `--oidc-*` flags (the legacy form of its JWT authenticator): tokens an
 * OpenID Connect provider issued to `clientId` authenticate users of that provider.
 */
export interface OidcOptions {
  /** https URL; must equal the tokens' `iss` and the discovery document's `issuer` */
  issuerUrl: string;
  /** must be among the tokens' `aud` */
  clientId: string;
  /** the claim the username comes from (default `sub`) */
  usernameClaim?: string;
  /**
   * prepended to the username; default: none for `email`, else `<issuerUrl>#` (so `sub` values of
   * two providers never collide); `-` = none
   */
  usernamePrefix?: string;
  /** the claim (a string or a list of strings) groups come from; none = no groups */
  groupsClaim?: string;
  groupsPrefix?: string;
  /** claim → value every token must carry */
  requiredClaims?: Record<string, string>;
  /** PEM CA bundle the provider's certificate is checked against (default: the system's) */
  ca?: string;
  /** accepted JWS algorithms (default RS256) */
  signingAlgs?: string[];
}

/** what the legacy flags accept (upstream: asymmetric algorithms only) */
export const OIDC_SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'] as const;

/** Problems in the options, one message each naming the flag (empty = valid). */
export function validateOidcOptions(o: OidcOptions): string[] {
  const errs: string[] = [];
  let url: URL | undefined;
  try {
    url = new URL(o.issuerUrl);
  } catch {
    errs.push(`--oidc-issuer-url ${o.issuerUrl}: not a URL`);
  }
  if (url && url.protocol !== 'https:') errs.push(`--oidc-issuer-url ${o.issuerUrl}: must use https`);
  if (url && (url.search || url.hash || url.username || url.password)) errs.push(`--oidc-issuer-url ${o.issuerUrl}: must not carry a query, fragment or user info`);
  if (!o.clientId) errs.push('--oidc-client-id: required with --oidc-issuer-url');
  if (o.usernameClaim === '') errs.push('--oidc-username-claim: must not be empty');
  for (const alg of o.signingAlgs ?? []) {
    if (!(OIDC_SIGNING_ALGS as readonly string[]).includes(alg)) errs.push(`--oidc-signing-algs: ${alg} is not supported (${OIDC_SIGNING_ALGS.join(', ')})`);
  }
  return errs;
}
