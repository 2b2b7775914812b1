import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { buildApp, type MessagingStacks } from '../../lib/infra/app';

/** The CDK app synthesised offline for the infra tests: each file synthesises once per context it checks. */

export type Resource = { Type: string; Properties?: any; DependsOn?: string[]; DeletionPolicy?: string };
/** Each stack's `Resources`, by its key in {@link MessagingStacks}. */
export type Templates = Record<keyof MessagingStacks, Record<string, Resource>>;

export const cdkJson = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'cdk.json'), 'utf8'));
/** The CLI hands the app cdk.json's context (feature flags included); so do the tests. */
export const cdkJsonContext = cdkJson.context as Record<string, unknown>;
/** cdk.json's context with bundling off (`aws:cdk:bundling-stacks` empty), for what does not depend on the Lambda code. */
export const noBundling = { ...cdkJsonContext, 'aws:cdk:bundling-stacks': [] };

export const account = '111111111111';
export const region = 'eu-west-1';
/** What prod needs at the least, in a fixed account and region. */
export const prodContext = {
  stage: 'prod',
  orderBusName: 'orders',
  sesFromEmail: 'no-reply@example.com',
  account,
  region,
};

/** cdk-nag's report of a synth (validation-report.json in the cloud assembly). */
export interface NagReport {
  pluginReports: {
    conclusion: string;
    violations: unknown[];
    suppressedViolations: {
      ruleName: string;
      acknowledgedId: string;
      reason: string;
      violatingConstructs: { constructPath: string }[];
    }[];
  }[];
}

export interface Synthesized {
  stage: 'dev' | 'prod';
  stacks: MessagingStacks;
  templates: Templates;
  /** The same templates, for the assertions library's matchers. */
  assertions: Record<keyof MessagingStacks, Template>;
  /** The `Outputs` of the stack named in {@link synthesize}'s options (undefined when none is named). */
  outputs: Record<string, any>;
  /** The ids of the stacks this one depends on. */
  dependencies(stackName: string): string[];
  report: NagReport;
  assembly: CloudAssembly;
  outdir: string;
}

/**
 * Builds the app for `context` (over cdk.json's) and synthesises it into `outdir` (a fresh
 * temporary directory unless named). Without `bundling` no Lambda code is bundled; `env` is what
 * the app reads of the environment (none unless given).
 */
export function synthesize(
  context: Record<string, unknown>,
  options: { stack?: keyof MessagingStacks; outdir?: string; bundling?: boolean; env?: NodeJS.ProcessEnv } = {},
): Synthesized {
  const outdir = options.outdir ?? mkdtempSync(join(tmpdir(), `messaging-${options.stack ?? 'stacks'}-`));
  const built = buildApp(
    { context: { ...(options.bundling ? cdkJsonContext : noBundling), ...context }, outdir },
    { env: options.env ?? {} },
  );
  const assembly = built.app.synth();
  const assertions = Object.fromEntries(
    Object.entries(built.stacks).map(([key, stack]) => [key, Template.fromStack(stack)]),
  ) as Synthesized['assertions'];
  const json = Object.fromEntries(Object.entries(assertions).map(([key, template]) => [key, template.toJSON()]));
  return {
    stage: built.config.stage,
    stacks: built.stacks,
    templates: Object.fromEntries(Object.entries(json).map(([k, t]) => [k, t.Resources])) as Templates,
    assertions,
    outputs: options.stack && json[options.stack]!.Outputs,
    // Stacks only: a stack's own asset manifest is listed among its dependencies too.
    dependencies: (name) =>
      assembly
        .getStackByName(name)
        .dependencies.map((d) => d.id)
        .filter((id) => !id.endsWith('.assets')),
    report: JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')),
    assembly,
    outdir,
  };
}

/** The properties of every alarm (they all live in the Observability stack). */
export const alarms = (s: Synthesized) =>
  Object.values(s.templates.observability)
    .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
    .map((r) => r.Properties);
/** The alarms on the Lambda `metric` of the function `messaging-<stage>-<name>`. */
export const lambdaAlarms = (s: Synthesized, name: string, metric: string) =>
  alarms(s).filter(
    (a) =>
      a.Namespace === 'AWS/Lambda' &&
      a.MetricName === metric &&
      a.Dimensions[0].Value === `messaging-${s.stage}-${name}`,
  );
/** cdk-nag's acknowledged findings: rule, construct path and reason, one per construct. */
export const acknowledgedFindings = (s: Synthesized) =>
  s.report.pluginReports
    .flatMap((r) => r.suppressedViolations)
    .flatMap((v) =>
      v.violatingConstructs.map((c) => ({ id: v.acknowledgedId, path: c.constructPath, reason: v.reason })),
    );
