import { App, Validations, type AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { MessagingStack } from './messaging-stack';
import { acknowledgeNagFindings } from './nag-acknowledgements';
import { stageConfig } from './stage-config';

/** The app as `cdk synth` and the tests build it: the stack for the stage, checked by cdk-nag. */
export function buildApp(
  props: AppProps = {},
  options: { acknowledge?: boolean } = {},
): { app: App; stack: MessagingStack } & { synth(): void } {
  const app = new App(props);
  const config = stageConfig((key) => app.node.tryGetContext(key));
  const stack = new MessagingStack(app, `Messaging-${config.stage}`, {
    config,
    description: `Order and support messaging (${config.stage})`,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  if (options.acknowledge !== false) acknowledgeNagFindings(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack, synth: () => void app.synth() };
}
