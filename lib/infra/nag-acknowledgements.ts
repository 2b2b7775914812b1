import { type Stack, Validations } from 'aws-cdk-lib';
import { AuthStack } from './stacks/auth-stack';
import { DataStack } from './stacks/data-stack';
import { EventsStack } from './stacks/events-stack';
import type { StageConfig } from './stage-config';

/**
 * Every cdk-nag finding we accept, each with its reason. Anything not acknowledged here fails
 * synth and the infrastructure tests.
 */
export function acknowledgeNagFindings(stack: Stack, config: StageConfig): void {
  if (stack instanceof DataStack) {
    Validations.of(stack.cluster).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        'The master secret is used by the migration alone; rotation needs a rotation Lambda with network access to the isolated cluster, and the Data API reads the secret per call, so it can be enabled later without code changes (roadmap).',
    });
    Validations.of(stack.appDatabaseSecret).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        "The application role's password is set on the role by the migration at every deploy (README runbook: rotate = new secret value + invoke the migrate function); scheduled rotation needs a rotation Lambda in the isolated VPC (roadmap).",
    });
    if (!config.keepData) {
      Validations.of(stack.cluster).acknowledge({
        id: 'AwsSolutions::AwsSolutions-RDS10',
        reason: 'dev stacks tear down cleanly; prod enables deletion protection (stage=prod).',
      });
    }
  }
  if (stack instanceof AuthStack) {
    Validations.of(stack.userPool).acknowledge({
      id: 'AwsSolutions::AwsSolutions-COG2',
      reason: 'Marketplace customers sign in without MFA; TOTP MFA is offered (optional) and can be required per app.',
    });
    Validations.of(stack.userPool).acknowledge({
      id: 'AwsSolutions::AwsSolutions-COG8',
      reason:
        'The Plus feature plan is a per-user cost decision for the business; Essentials with a strong password policy is the baseline.',
    });
  }
  if (stack instanceof EventsStack) {
    for (const queue of [stack.deliveryFailures, stack.processingFailures]) {
      Validations.of(queue).acknowledge({
        id: 'AwsSolutions::AwsSolutions-SQS3',
        reason:
          'This queue is itself the dead-letter queue / on-failure destination for order events; it is alarmed on depth and drained by npm run redrive.',
      });
    }
  }
}
