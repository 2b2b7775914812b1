/**
 * `npm run token -- --sub <uuid> [--groups admin,agent] [--expires-in 3600]`
 * Prints only a signed token with Cognito access-token claims, accepted by `npm start`.
 */
import { parseArgs } from 'node:util';
import { localAuthConfig, signLocalToken } from '../lib/local/local-auth';

const { values } = parseArgs({
  options: { sub: { type: 'string' }, groups: { type: 'string' }, 'expires-in': { type: 'string' } },
});
if (!values.sub || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(values.sub)) {
  console.error('usage: npm run token -- --sub <uuid> [--groups admin,agent,service_provider] [--expires-in seconds]');
  process.exit(2);
}
const token = await signLocalToken(localAuthConfig(), {
  sub: values.sub,
  groups: values.groups?.split(',').map((g) => g.trim()).filter(Boolean),
  expiresInSeconds: values['expires-in'] ? Number(values['expires-in']) : undefined,
});
process.stdout.write(`${token}\n`);
