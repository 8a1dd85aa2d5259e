// The OpenID Connect provider the browser tests log in with: panva/node-oidc-provider (OpenID Certified), pinned in
// package.json / package-lock.json and installed by `scripts/setup.sh dev` (npm ci). Nothing here implements the
// protocol; this file only configures the library, like a realm file configures Keycloak.
//
//   node provider.js CONFIG.json
//
// CONFIG.json (written by tests/support/oidc_provider.py): {"port", "client": {client_id, client_secret,
// redirect_uris, post_logout_redirect_uris}, "accounts": {login: {claims...}}, "cookie_key"}.
//
// Login and consent pages are the library's own development interactions (devInteractions): a login form, then a
// consent page. The password is not checked by them; an unknown login is refused because findAccount knows only
// the configured accounts. Claims go into the ID token (conformIdTokenClaims: false), where Streamlit reads them,
// as Keycloak does with "Add to ID token" mappers.
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;

const provider = new Provider(issuer, {
  clients: [{
    ...config.client,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  async findAccount(ctx, id) {
    const account = config.accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...account };
      },
    };
  },
  // Scope -> claims. "roles" carries Keycloak's realm-roles shape (realm_access.roles) and a flat "groups" claim.
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    roles: ['realm_access', 'groups'],
  },
  scopes: ['openid', 'email', 'profile', 'roles'],
  conformIdTokenClaims: false,
  cookies: { keys: [config.cookie_key] },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
