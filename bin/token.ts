/**
 * `npm run token -- --sub <uuid> [--groups admin,agent] [--expires-in 3600]`
 * Prints only a signed token with Cognito access-token claims, accepted by `npm start`.
 */
import { parseArgs } from 'node:util';
import { localAuthConfig, signLocalToken } from '../lib/local/local-auth';

const usage = `usage: npm run -s token -- --sub <uuid> [--groups admin,agent,service_provider] [--expires-in <seconds>]
  --sub         the user id (a UUID); the caller the API sees
  --groups      comma-separated Cognito groups: admin, agent, service_provider (none: a plain user)
  --expires-in  lifetime in seconds (default 3600; 0 or negative gives an already expired token)
  prints only the token, signed with the key in LOCAL_JWT_KEY_FILE (default .data/local-jwt-key.json)`;

let values: { sub?: string; groups?: string; 'expires-in'?: string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      sub: { type: 'string' },
      groups: { type: 'string' },
      'expires-in': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (error) {
  console.error(`token: ${(error as Error).message}\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (!values.sub || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(values.sub)) {
  console.error(`token: --sub must be a UUID\n${usage}`);
  process.exit(2);
}
const expiresIn = values['expires-in'];
if (expiresIn !== undefined && !/^-?\d+$/.test(expiresIn)) {
  console.error(`token: --expires-in must be a whole number of seconds\n${usage}`);
  process.exit(2);
}
const token = await signLocalToken(localAuthConfig(), {
  sub: values.sub,
  groups: values.groups
    ?.split(',')
    .map((g) => g.trim())
    .filter(Boolean),
  expiresInSeconds: expiresIn !== undefined ? Number(expiresIn) : undefined,
});
process.stdout.write(`${token}\n`);
