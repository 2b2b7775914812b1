import { Validations } from 'aws-cdk-lib';
import type { MessagingStack } from './messaging-stack';

/**
 * Every cdk-nag finding we accept, each with its reason. Anything not acknowledged here fails
 * synth and the infrastructure tests.
 */
export function acknowledgeNagFindings(stack: MessagingStack): void {
  const functions = [...stack.node.findAll()].filter((c) => c.node.defaultChild?.constructor.name === 'CfnFunction' || c.constructor.name === 'NodejsFunction');
  for (const fn of functions) {
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions::AwsSolutions-L1',
      reason: 'The service is built for the nodejs22.x runtime (fixed by the platform we deploy into); moving runtimes is a deliberate upgrade, not drift.',
    });
  }
  for (const queue of stack.deadLetterQueues) {
    Validations.of(queue).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue / on-failure destination for order events; it is alarmed on depth.',
    });
  }
  Validations.of(stack.database).acknowledge({
    id: 'AwsSolutions::AwsSolutions-SMG4',
    reason: 'Rotation needs a rotation Lambda with network access to the isolated cluster; the Data API reads the secret per call, so rotation can be enabled later without code changes (roadmap).',
  });
  if (!stack.node.tryGetContext('stage') || stack.node.tryGetContext('stage') === 'dev') {
    Validations.of(stack.database).acknowledge({
      id: 'AwsSolutions::AwsSolutions-RDS10',
      reason: 'dev stacks tear down cleanly; prod enables deletion protection (stage=prod).',
    });
  }
  Validations.of(stack.userPool).acknowledge({
    id: 'AwsSolutions::AwsSolutions-COG2',
    reason: 'Marketplace customers sign in without MFA; TOTP MFA is offered (optional) and can be required per app.',
  });
  Validations.of(stack.userPool).acknowledge({
    id: 'AwsSolutions::AwsSolutions-COG8',
    reason: 'The Plus feature plan is a per-user cost decision for the business; Essentials with a strong password policy is the baseline.',
  });
}
