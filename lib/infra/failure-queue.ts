import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/**
 * Where an asynchronous invocation or a delivery ends after its retries: kept 14 days (the
 * longest SQS keeps anything) for the runbook's redrive, encrypted, TLS only. Its name is fixed,
 * so alarms and `npm run redrive` name it without a cross-stack reference.
 */
export function failureQueue(scope: Construct, id: string, queueName: string, removalPolicy: RemovalPolicy): sqs.Queue {
  return new sqs.Queue(scope, id, {
    queueName,
    retentionPeriod: Duration.days(14),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    removalPolicy,
  });
}
