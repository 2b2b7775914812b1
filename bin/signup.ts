/**
 * `npm run signup -- --sub <uuid> --email <address> [--name <name>]`: what Cognito does when a
 * user confirms their sign-up. Invokes the stack's post-confirmation function with the event
 * Cognito sends (PostConfirmation_ConfirmSignUp), through the real Lambda client, against the
 * running local stack (LAMBDA_ENDPOINT, else PORT/HOST, else the URL `npm start` recorded), so
 * a local user has the email and name a deployed one has. Then `npm run token -- --sub <uuid>`.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { commandLine, fail, failCall } from '../lib/local/command-line';
import { discoverLocalStack } from '../lib/local/local-address';
import { localFunctionNames } from '../lib/local/local-notifications';

const usage = `usage: npm run signup -- --sub <uuid> --email <address> [--name <name>]
  --sub    the user id (a UUID), as Cognito's sub
  --email  the user's email attribute: where digests of unread messages go
  --name   the user's name attribute: the displayName others see
  invokes the local stack's Cognito post-confirmation function (LAMBDA_ENDPOINT, else the running npm start)`;

const { sub, values } = commandLine('signup', usage, {
  sub: { type: 'string' },
  email: { type: 'string' },
  name: { type: 'string' },
});
const email = values.email as string | undefined;
if (!email || !/^[^@\s]+@[^@\s]+$/.test(email)) fail('signup', '--email must be an email address', usage);
const name = values.name as string | undefined;

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const found = process.env.LAMBDA_ENDPOINT
  ? { url: process.env.LAMBDA_ENDPOINT, source: 'LAMBDA_ENDPOINT' }
  : discoverLocalStack();
const region = process.env.AWS_REGION ?? 'us-east-1';
const client = new LambdaClient({
  endpoint: found.url,
  region,
  // The local stack's own credentials when the environment names none (lib/local/local-stack.ts).
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'local',
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
  },
  maxAttempts: 1,
});
const event = {
  version: '1',
  region,
  userPoolId: `${region}_local`,
  userName: sub,
  callerContext: { awsSdkVersion: 'aws-sdk-unknown-unknown', clientId: 'local-messaging-client' },
  triggerSource: 'PostConfirmation_ConfirmSignUp',
  request: {
    userAttributes: {
      sub,
      'cognito:user_status': 'CONFIRMED',
      email_verified: 'true',
      email,
      ...(name ? { name } : {}),
    },
  },
  response: {},
};
try {
  const out = await client.send(
    new InvokeCommand({ FunctionName: localFunctionNames.postConfirmation, Payload: JSON.stringify(event) }),
  );
  if (out.FunctionError) {
    console.error(`signup: the function failed: ${Buffer.from(out.Payload ?? []).toString('utf8')}`);
    process.exit(1);
  }
  console.log(JSON.stringify({ userId: sub, email, name: name ?? null, recorded: true }));
} catch (error) {
  failCall('signup', found, error);
}
