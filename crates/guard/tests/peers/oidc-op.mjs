// oidc-op.mjs: a certified OpenID Provider (npm oidc-provider, panva) on
// 127.0.0.1 for the user's side of guard: authorization code with PKCE on a
// loopback redirect, the device flow, refresh tokens (rotated) and
// revocation. Nobody has to type: an interaction logs in the account named by
// login_hint (default alice) and grants what was asked.
//
// Clients (public, native; any loopback port, RFC 8252):
//   guard-cli        ID tokens valid for an hour
//   guard-cli-short  ID tokens valid for 10 s (always "about to expire")
// Test routes: GET /test/calls -> {"discovery": n, "authorization_code": n,
// "refresh_token": n, "device_code": n}; POST /test/expire-refresh-token with
// a refresh token as the body makes it expired.
// Prints "READY <issuer>" once listening on a free port.
import http from 'node:http';
import Provider from 'oidc-provider';

const ACCOUNTS = {
  alice: { email: 'alice@example.com', email_verified: true, groups: ['admins', 'devs'] },
  bob: { email: 'bob@example.com', email_verified: true, groups: ['devs'] },
};

const server = http.createServer();
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const issuer = `http://127.0.0.1:${server.address().port}`;
const calls = { discovery: 0, authorization_code: 0, refresh_token: 0, device_code: 0 };

const client = (id) => ({
  client_id: id,
  application_type: 'native',
  token_endpoint_auth_method: 'none',
  redirect_uris: ['http://127.0.0.1/'],
  grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
  response_types: ['code'],
});

const provider = new Provider(issuer, {
  clients: [client('guard-cli'), client('guard-cli-short')],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
  scopes: ['openid', 'email', 'groups', 'offline_access'],
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
  },
  issueRefreshToken: async (ctx, c) => c.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  ttl: {
    IdToken: (ctx, token, c) => (c.clientId === 'guard-cli-short' ? 10 : 3600),
    RefreshToken: 86400,
    DeviceCode: 600,
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    if (!ACCOUNTS[id]) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...ACCOUNTS[id] }) };
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('grant.success', (ctx) => {
  const grant = ctx.oidc.params.grant_type ?? '';
  const key = grant.endsWith('device_code') ? 'device_code' : grant;
  if (key in calls) calls[key] += 1;
});

async function autoInteraction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const accountId = details.params.login_hint ?? 'alice';
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res,
    { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

// Moves a refresh token's expiry into the past, as if a day had gone by.
async function expireRefreshToken(req, res) {
  let body = '';
  for await (const chunk of req) body += chunk;
  const token = await provider.RefreshToken.find(body.trim(), { ignoreExpiration: true });
  if (!token) { res.statusCode = 404; res.end('no such refresh token'); return; }
  token.exp = Math.floor(Date.now() / 1000) - 1;
  const { payload } = await token.getValueAndPayload();
  await token.adapter.upsert(token.jti, payload, 600);
  res.end('expired');
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    autoInteraction(req, res).catch((e) => { res.statusCode = 500; res.end(String(e)); });
  } else if (req.url === '/test/expire-refresh-token' && req.method === 'POST') {
    expireRefreshToken(req, res).catch((e) => { res.statusCode = 500; res.end(String(e)); });
  } else if (req.url === '/test/calls') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(calls));
  } else {
    if (req.url.startsWith('/.well-known/openid-configuration')) calls.discovery += 1;
    callback(req, res);
  }
});
console.log(`READY ${issuer}`);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
