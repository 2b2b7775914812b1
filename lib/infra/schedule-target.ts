import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { ScheduleTargetBase, type ScheduleTargetBaseProps } from 'aws-cdk-lib/aws-scheduler-targets';

/**
 * aws-scheduler-targets' LambdaInvoke grants invoke on the function and on `<function>:*` (every
 * version and alias); our schedules invoke the unqualified function, so that is all they may invoke.
 * The base class keeps the rest: the role (which Scheduler may assume for schedules of this account's
 * default group: Scheduler's condition keys name the group, never a schedule), the dead-letter grant
 * (sqs:SendMessage on the queue) and the retry policy.
 */
export class InvokeUnqualified extends ScheduleTargetBase {
  constructor(
    private readonly fn: lambda.IFunction,
    props: ScheduleTargetBaseProps,
  ) {
    super(props, fn.functionArn);
  }

  protected override addTargetActionToRole(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.fn.functionArn] }),
    );
  }
}
