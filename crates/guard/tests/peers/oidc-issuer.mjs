// An OpenID Connect issuer on 127.0.0.1 for guard's tests: npm
// `oauth2-mock-server` (real RS256/ES256 keys, discovery, JWKS, token
// endpoint), with hooks for tests and the two Microsoft/Google APIs guard calls:
//
//   POST {prefix}/test/sign?alg=RS256|ES256  body = JSON claims -> {"token": JWT}
//        iss/iat/nbf/exp are pre-filled and may be overridden.
//   POST {prefix}/test/rotate                a new signing key (JWKS grows);
//                                            later /test/sign calls use it
//   POST {prefix}/test/down, /test/up        discovery answers 503 while down
//   POST {prefix}/test/jwks-down, /test/jwks-up   the JWKS answers 503 while down
//   GET  /admin/directory/v1/groups?userKey=&domain=&pageToken=   Google Directory API
//        (2 groups per page, nextPageToken), needs a Bearer token from /token
//   POST /v1.0/users/{oid}/getMemberGroups          MS Graph, {"value": [ids]}
//   POST /v1.0/directoryObjects/getByIds            MS Graph, {"value": [{id, displayName}]}
//   GET  /test/calls      {"graph": n, "directory": n, "token": n, "discovery": n, "jwks": n}
//   POST /test/revoke-directory-tokens   the Directory API refuses (401) the tokens it has seen
//
// Environment: OIDC_PORT (0 = free port), OIDC_ISSUER (force `iss`, e.g.
// https://accounts.google.com), OIDC_PATH_PREFIX (e.g. /TENANT/v2.0 for Azure).
// Prints "READY <issuer-url> port=<port>". Must sit next to node_modules.
import { OAuth2Server, Events } from 'oauth2-mock-server';

const env = process.env;
const prefix = (env.OIDC_PATH_PREFIX ?? '').replace(/\/$/, '');
const endpoints = prefix
  ? Object.fromEntries(Object.entries({
      wellKnownDocument: '/.well-known/openid-configuration', token: '/token', jwks: '/jwks',
      authorize: '/authorize', userinfo: '/userinfo', revoke: '/revoke',
      endSession: '/endsession', introspect: '/introspect',
    }).map(([k, v]) => [k, prefix + v]))
  : undefined;
const server = new OAuth2Server(undefined, undefined, { endpoints });
let signingKid = (await server.issuer.keys.generate('RS256')).kid;
const ecKid = (await server.issuer.keys.generate('ES256')).kid;
let down = false;
let jwksDown = false;
const calls = { graph: 0, directory: 0, token: 0, discovery: 0, jwks: 0 };

server.service.on(Events.BeforeTokenSigning, (token, req) => {
  calls.token += 1;
  const raw = req.body?.claims;
  if (typeof raw === 'string' && raw.length > 0) Object.assign(token.payload, JSON.parse(raw));
});

const send = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const bodyOf = (req) => (typeof req.body === 'string' ? JSON.parse(req.body || '{}') : (req.body ?? {}));
const bearer = (req) => /^Bearer\s+\S+/i.test(req.headers.authorization ?? '');

server.service.addRoute('POST', `${prefix}/test/sign`, async (req, res) => {
  const alg = new URL(req.url, 'http://x').searchParams.get('alg') ?? 'RS256';
  const claims = bodyOf(req);
  const token = await server.issuer.buildToken({
    kid: alg === 'ES256' ? ecKid : signingKid,
    scopesOrTransform: (_h, payload) => Object.assign(payload, claims),
  });
  send(res, 200, { token });
});
server.service.addRoute('POST', `${prefix}/test/rotate`, async (_req, res) => {
  signingKid = (await server.issuer.keys.generate('RS256')).kid;
  send(res, 200, { kid: signingKid });
});
server.service.addRoute('POST', `${prefix}/test/down`, (_req, res) => { down = true; send(res, 200, {}); });
server.service.addRoute('POST', `${prefix}/test/up`, (_req, res) => { down = false; send(res, 200, {}); });
server.service.addRoute('POST', `${prefix}/test/jwks-down`, (_req, res) => { jwksDown = true; send(res, 200, {}); });
server.service.addRoute('POST', `${prefix}/test/jwks-up`, (_req, res) => { jwksDown = false; send(res, 200, {}); });
server.service.addRoute('GET', '/test/calls', (_req, res) => send(res, 200, calls));
// The Directory API refuses (401) every token it has seen so far: revoked.
const seenDirectoryTokens = new Set();
const revokedDirectoryTokens = new Set();
server.service.addRoute('POST', '/test/revoke-directory-tokens', (_req, res) => {
  for (const t of seenDirectoryTokens) revokedDirectoryTokens.add(t);
  send(res, 200, {});
});

// Google Directory API: groups of a user, 2 per page.
const DIRECTORY = {
  'alice@example.com': ['admins@example.com', 'devs@example.com', 'sre@example.com'],
  'bob@example.com': [],
};
server.service.addRoute('GET', '/admin/directory/v1/groups', (req, res) => {
  calls.directory += 1;
  if (!bearer(req)) return send(res, 401, { error: { code: 401, message: 'Login Required.' } });
  const presented = req.headers.authorization;
  if (revokedDirectoryTokens.has(presented)) return send(res, 401, { error: { code: 401, message: 'Invalid Credentials' } });
  seenDirectoryTokens.add(presented);
  const q = new URL(req.url, 'http://x').searchParams;
  const all = DIRECTORY[q.get('userKey')] ?? [];
  const start = Number(q.get('pageToken') ?? 0);
  const page = all.slice(start, start + 2).map((email, i) => ({ kind: 'admin#directory#group', id: `g${start + i}`, email, name: email.split('@')[0] }));
  const body = { kind: 'admin#directory#groups', etag: '"x"', groups: page };
  if (start + 2 < all.length) body.nextPageToken = String(start + 2);
  send(res, 200, body);
});

// MS Graph: group membership.
const GROUPS = { 'g-1': 'Admins', 'g-2': 'Developers', 'g-3': 'Readers' };
const MEMBER_OF = { 'oid-alice': ['g-1', 'g-2'], 'oid-overage': ['g-1', 'g-2', 'g-3'], 'oid-guest': [] };
for (const [oid, groups] of Object.entries(MEMBER_OF)) {
  server.service.addRoute('POST', `/v1.0/users/${oid}/getMemberGroups`, (req, res) => {
    calls.graph += 1;
    if (!bearer(req)) return send(res, 401, { error: { code: 'InvalidAuthenticationToken' } });
    send(res, 200, { value: groups });
  });
}
server.service.addRoute('POST', '/v1.0/directoryObjects/getByIds', (req, res) => {
  calls.graph += 1;
  if (!bearer(req)) return send(res, 401, { error: { code: 'InvalidAuthenticationToken' } });
  const ids = bodyOf(req).ids ?? [];
  send(res, 200, { value: ids.filter((id) => GROUPS[id]).map((id) => ({ '@odata.type': '#microsoft.graph.group', id, displayName: GROUPS[id] })) });
});

await server.start(Number(env.OIDC_PORT ?? 0), '127.0.0.1');
// Every request on stderr, for debugging a test (GUARD_TEST_PEER_LOGS=1 shows it).
const http = await import('node:http');
const emit = http.Server.prototype.emit;
// The JWKS is counted, and answered with 503 while "jwks-down".
const jwksPath = `${prefix}/jwks`;
http.Server.prototype.emit = function (ev, req, ...rest) {
  if (ev === 'request') {
    console.error(`REQ ${req.method} ${req.url}`);
    if (req.url.split('?')[0] === jwksPath) {
      calls.jwks += 1;
      if (jwksDown) { send(rest[0], 503, { error: 'down' }); return true; }
    }
  }
  return emit.call(this, ev, req, ...rest);
};
const origin = `http://127.0.0.1:${server.address().port}`;
server.issuer.url = env.OIDC_ISSUER ?? `${origin}${prefix}`;

// Endpoints in discovery point at what is really served (origin + path), and
// the "down" switch turns discovery into a 503.
server.service.on(Events.BeforeWellKnownOpenIdConfiguration, (resp) => {
  calls.discovery += 1;
  if (down) { resp.statusCode = 503; resp.body = { error: 'down' }; return; }
  for (const [k, v] of Object.entries(resp.body)) {
    if (k !== 'issuer' && typeof v === 'string' && v.startsWith(server.issuer.url)) {
      resp.body[k] = origin + v.slice(server.issuer.url.length);
    }
  }
});
console.log(`READY ${server.issuer.url} port=${server.address().port}`);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, async () => { await server.stop(); process.exit(0); });
