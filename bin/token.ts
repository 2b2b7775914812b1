/**
 * `npm run token -- --sub <uuid> [--groups admin,agent] [--expires-in 3600]`
 * Prints only a signed token with Cognito access-token claims, accepted by `npm start`.
 */
import { commandLine, fail } from '../lib/local/command-line';
import { localAuthConfig, signLocalToken } from '../lib/local/local-auth';

const usage = `usage: npm run -s token -- --sub <uuid> [--groups admin,agent,service_provider] [--expires-in <seconds>]
  --sub         the user id (a UUID); the caller the API sees
  --groups      comma-separated Cognito groups: admin, agent, service_provider (none: a plain user)
  --expires-in  lifetime in seconds (default 3600; 0 or negative gives an already expired token)
  prints only the token, signed with the key in LOCAL_JWT_KEY_FILE (default .data/local-jwt-key.json)`;

const { sub, values } = commandLine('token', usage, {
  sub: { type: 'string' },
  groups: { type: 'string' },
  'expires-in': { type: 'string' },
});
const expiresIn = values['expires-in'] as string | undefined;
if (expiresIn !== undefined && !/^-?\d+$/.test(expiresIn))
  fail('token', '--expires-in must be a whole number of seconds', usage);
const token = await signLocalToken(localAuthConfig(), {
  sub,
  groups: (values.groups as string | undefined)
    ?.split(',')
    .map((g) => g.trim())
    .filter(Boolean),
  expiresInSeconds: expiresIn !== undefined ? Number(expiresIn) : undefined,
});
process.stdout.write(`${token}\n`);
