import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Token } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../lib/infra/app';
import { cdkJson, noBundling } from './synth';

/**
 * Where the stacks go, the feature flags, and cdk-nag. These build the app without bundling
 * (`aws:cdk:bundling-stacks` empty): nothing here depends on the Lambda code.
 */
const prodContext = { stage: 'prod', orderBusName: 'orders', sesFromEmail: 'no-reply@example.com' };
const build = (context: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, acknowledge = true) =>
  buildApp({ context: { ...noBundling, ...context } }, { env, acknowledge });

describe('account and region', () => {
  it('come from context, never silently us-east-1', () => {
    const { stacks } = build({ ...prodContext, account: '111111111111', region: 'eu-central-1' });
    for (const stack of Object.values(stacks))
      expect([stack.account, stack.region]).toEqual(['111111111111', 'eu-central-1']);
  });

  it('come from AWS_REGION and the credentials account when no context names them', () => {
    const { stacks } = build(
      { stage: 'dev' },
      { CDK_DEFAULT_ACCOUNT: '222222222222', CDK_DEFAULT_REGION: 'us-east-1', AWS_REGION: 'ap-southeast-2' },
    );
    expect([stacks.data.account, stacks.data.region]).toEqual(['222222222222', 'ap-southeast-2']);
  });

  it('refuse the CLI\u2019s us-east-1 fallback: credentials without an explicit region fail', () => {
    expect(() =>
      build({ stage: 'dev' }, { CDK_DEFAULT_ACCOUNT: '222222222222', CDK_DEFAULT_REGION: 'us-east-1' }),
    ).toThrow(/No region given/);
  });

  it('are required in prod', () => {
    expect(() => build(prodContext, { CDK_DEFAULT_REGION: 'us-east-1' })).toThrow(
      /prod needs an explicit account and region/,
    );
  });

  it('leave an offline dev synth environment-agnostic', () => {
    const { stacks } = build({ stage: 'dev' });
    expect(Token.isUnresolved(stacks.data.region)).toBe(true);
    expect(Token.isUnresolved(stacks.data.account)).toBe(true);
  });

  it('prod also needs the order bus and an SES identity', () => {
    const env = { account: '111111111111', region: 'eu-west-1' };
    expect(() => build({ ...prodContext, ...env, orderBusName: '' })).toThrow(/orderBusName/);
    expect(() => build({ ...prodContext, ...env, sesFromEmail: '' })).toThrow(/sesFromEmail/);
  });
});

describe('cdk.json', () => {
  it('sets every feature flag aws-cdk-lib recommends for a new app, to the recommended value', () => {
    const recommended = JSON.parse(
      readFileSync(
        join(import.meta.dirname, '..', '..', 'node_modules', 'aws-cdk-lib', 'recommended-feature-flags.json'),
        'utf8',
      ),
    );
    expect(Object.keys(recommended).length).toBeGreaterThan(50);
    for (const [flag, value] of Object.entries(recommended)) expect(cdkJson.context[flag], flag).toEqual(value);
  });

  it('synthesises offline: no notices, no telemetry, no version reporting', () => {
    expect(cdkJson).toMatchObject({ notices: false, 'cli-telemetry': false, versionReporting: false });
  });
});

describe('cdk-nag', () => {
  it('passes the AwsSolutions pack in dev and prod with every finding acknowledged, and fails without them', () => {
    expect(() => build({ stage: 'dev' }).synth()).not.toThrow();
    expect(() => build({ ...prodContext, account: '111111111111', region: 'eu-west-1' }).synth()).not.toThrow();
    expect(() => build({ stage: 'dev' }, {}, false).synth()).toThrow();
  });
});
