// A GitHub REST API on 127.0.0.1 for guard's tests: npm
// `@simulacrum/github-api-simulator` (built from GitHub's own OpenAPI
// description; endpoints not overridden answer with the spec's examples),
// served under /api/v3 like GitHub Enterprise, with the two calls guard makes
// overridden to honour a per-token table:
//   GET /api/v3/user/memberships/orgs/{org}   orgs/get-membership-for-authenticated-user
//   GET /api/v3/user/teams?per_page=&page=    teams/list-for-authenticated-user,
//                                             paged with a Link header as GitHub does
//                                             (gh-rels: with one more relation)
// Failure tokens: gh-ratelimited (403, x-ratelimit-remaining: 0), gh-abuse
// (429, retry-after), gh-secondary (403 secondary rate limit with requests
// left and no retry-after), gh-500 (500), gh-hang (never answers).
// GET /_test/calls -> {"<token>": <membership calls>} for counting upstream calls.
// Run: PORT=0 node github-sim.mjs   -> prints "READY http://127.0.0.1:PORT"
import { simulation } from '@simulacrum/github-api-simulator';

const teams = (org, names) => names.map((n) => [org, n]);
const many = [];
for (let i = 0; i < 150; i++) {
  many.push(['acme', `Team ${i}`]);
  if (i % 15 === 0) many.push(['other-org', `Elsewhere ${i}`]);
}
const TOKENS = {
  'gh-alice': { login: 'alice', id: 1001, orgs: { acme: 'active' },
                teams: [...teams('acme', ['Admins', 'Platform Team']), ['other-org', 'x']] },
  'gh-zero':  { login: 'zero', id: 1002, orgs: { acme: 'active' }, teams: [] },
  'gh-one':   { login: 'one', id: 1003, orgs: { acme: 'active' }, teams: teams('acme', ['Solo']) },
  'gh-many':  { login: 'many', id: 1004, orgs: { acme: 'active' }, teams: many },
  'gh-pending': { login: 'pending', id: 1005, orgs: { acme: 'pending' }, teams: teams('acme', ['Admins']) },
  'gh-outsider': { login: 'outsider', id: 1006, orgs: { 'other-org': 'active' }, teams: [] },
  'gh-counted': { login: 'counted', id: 1007, orgs: { acme: 'active' }, teams: teams('acme', ['Devs']) },
  // Its team pages' Link headers carry a relation besides GitHub's four.
  'gh-rels':  { login: 'linkrels', id: 1008, orgs: { acme: 'active' }, teams: many, extraRel: true },
};
const calls = {};

const tokenOf = (req) => (req.headers.authorization ?? '').match(/^(?:token|bearer)\s+(.+)$/i)?.[1];
const slug = (name) => name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
// The account and organisation objects as GitHub documents them (every URL
// field a URL: clients such as octocrab parse them).
const API = (req) => `http://${req.headers.host}/api/v3`;
const user = (root, u) => ({ login: u.login, id: u.id, node_id: `U_${u.id}`,
  avatar_url: `${root}/avatars/${u.login}`, gravatar_id: '', url: `${root}/users/${u.login}`,
  html_url: `${root}/${u.login}`, followers_url: `${root}/users/${u.login}/followers`,
  following_url: `${root}/users/${u.login}/following{/other_user}`,
  gists_url: `${root}/users/${u.login}/gists{/gist_id}`,
  starred_url: `${root}/users/${u.login}/starred{/owner}{/repo}`,
  subscriptions_url: `${root}/users/${u.login}/subscriptions`,
  organizations_url: `${root}/users/${u.login}/orgs`, repos_url: `${root}/users/${u.login}/repos`,
  events_url: `${root}/users/${u.login}/events{/privacy}`,
  received_events_url: `${root}/users/${u.login}/received_events`, type: 'User', site_admin: false });
const org = (root, login) => ({ login, id: 1, node_id: 'O_1', url: `${root}/orgs/${login}`,
  repos_url: `${root}/orgs/${login}/repos`, events_url: `${root}/orgs/${login}/events`,
  hooks_url: `${root}/orgs/${login}/hooks`, issues_url: `${root}/orgs/${login}/issues`,
  members_url: `${root}/orgs/${login}/members{/member}`,
  public_members_url: `${root}/orgs/${login}/public_members{/member}`,
  avatar_url: `${root}/avatars/${login}`, description: null });

// Answers for the failure tokens; true when the request was handled.
const failure = (token, res) => {
  switch (token) {
    case 'gh-ratelimited':
      res.set({ 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '0',
                'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 1800) });
      res.status(403).json({ message: 'API rate limit exceeded for user ID 1.' });
      return true;
    case 'gh-abuse':
      res.set({ 'retry-after': '60' });
      res.status(429).json({ message: 'You have exceeded a secondary rate limit.' });
      return true;
    case 'gh-secondary':
      res.set({ 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '4990',
                'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3000) });
      res.status(403).json({ message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
                             documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api' });
      return true;
    case 'gh-500':
      res.status(500).json({ message: 'Server Error' });
      return true;
    case 'gh-hang':
      return true; // never answer
    default:
      return false;
  }
};
const known = (req, res) => {
  const token = tokenOf(req);
  if (failure(token, res)) return undefined;
  const u = TOKENS[token];
  if (!u) res.status(401).json({ message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
  return u;
};

const app = simulation({
  apiUrl: '/api/v3',
  // the simulator ignores custom handlers unless an initialState is given
  initialState: { users: [], organizations: [], repositories: [], branches: [], blobs: [] },
  extend: {
    extendRouter(router) {
      router.get('/_test/calls', (_req, res) => res.status(200).json(calls));
    },
    openapiHandlers: () => ({
      'orgs/get-membership-for-authenticated-user': async (c, req, res) => {
        const token = tokenOf(req);
        calls[token] = (calls[token] ?? 0) + 1;
        const u = known(req, res); if (!u) return;
        const { org: name } = c.request.params;
        if (!u.orgs[name]) return res.status(404).json({ message: 'Not Found' });
        const root = API(req);
        res.status(200).json({ url: `${root}/orgs/${name}/memberships/${u.login}`, state: u.orgs[name],
          role: 'member', organization_url: `${root}/orgs/${name}`, organization: org(root, name),
          user: user(root, u) });
      },
      'teams/list-for-authenticated-user': async (_c, req, res) => {
        const u = known(req, res); if (!u) return;
        const here = new URL(req.originalUrl ?? req.url, `http://${req.headers.host}`);
        const per = Math.min(Number(here.searchParams.get('per_page') ?? 30), 100);
        const page = Number(here.searchParams.get('page') ?? 1);
        const pages = Math.max(1, Math.ceil(u.teams.length / per));
        const link = (p) => { const l = new URL(here); l.searchParams.set('page', String(p)); return l.href; };
        const rels = [];
        if (page < pages) rels.push(`<${link(page + 1)}>; rel="next"`, `<${link(pages)}>; rel="last"`);
        if (page > 1) rels.push(`<${link(1)}>; rel="first"`, `<${link(page - 1)}>; rel="prev"`);
        if (u.extraRel) rels.unshift(`<${link(page)}>; title="teams, page ${page}; of ${pages}"; rel="custom-rel"`);
        if (rels.length) res.set('link', rels.join(', '));
        const root = API(req);
        res.status(200).json(u.teams.slice((page - 1) * per, page * per).map(([o, name], i) => ({
          id: i + 1, node_id: `T_${i}`, url: `${root}/teams/${i + 1}`,
          html_url: `http://${req.headers.host}/orgs/${o}/teams/${slug(name)}`, name, slug: slug(name),
          description: null, privacy: 'closed', permission: 'pull',
          members_url: `${root}/teams/${i + 1}/members{/member}`,
          repositories_url: `${root}/teams/${i + 1}/repos`, parent: null, organization: org(root, o) })));
      },
    }),
  },
});
const port = Number(process.env.PORT ?? 0);
const { port: bound, ensureClose } = await app.listen(port, '127.0.0.1');
console.log(`READY http://127.0.0.1:${bound}`);
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => ensureClose().then(() => process.exit(0)));
