import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { failureQueue } from '../failure-queue';
import { AttachmentsBinding, type FunctionBinding, MessagingFunction } from '../messaging-function';
import { attachmentFailureQueueNames, attachmentKeyPrefix, attachmentsBucketNamePrefix, functionName } from '../names';
import { InvokeUnqualified } from '../schedule-target';
import type { StageConfig } from '../stage-config';

export interface AttachmentsStackProps extends StackProps {
  config: StageConfig;
  database: FunctionBinding;
}

/** How long the bucket's server access logs are kept. */
export const accessLogRetention = Duration.days(90);

/** How often the sweep runs: an upload never sent is deleted between 24 and 25 hours after it began. */
export const sweepRate = Duration.hours(1);

/**
 * Attachments: the private bucket apps upload to and download from with presigned requests, the
 * function that checks each new object (on the bucket's ObjectCreated notification), the hourly
 * sweep of uploads never sent and of deleted messages' files, and the bindings through which the
 * HTTP routes presign and delete (`attachmentUploads`, `attachmentDownloads`, `attachmentRemoval`).
 *
 * Every grant on the bucket is an AttachmentsBinding: one action set on `attachments/*` (and
 * ListBucket for the check alone), to the functions that need it. The bucket policy only denies
 * (plain HTTP, TLS below 1.2).
 */
export class AttachmentsStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  /** The two functions of this stack, by name. */
  readonly functions = new Map<string, MessagingFunction>();
  readonly checkFunction: MessagingFunction;
  readonly sweepFunction: MessagingFunction;
  /** Notifications the check function failed on after its retries. */
  readonly checkFailures: sqs.Queue;
  /** Sweeps the scheduler could not deliver. */
  readonly sweepFailures: sqs.Queue;
  readonly sweepSchedule: scheduler.Schedule;
  /** PutObject, for the route that presigns uploads. */
  readonly uploads: AttachmentsBinding;
  /** GetObject, for the route that presigns downloads. */
  readonly downloads: AttachmentsBinding;
  /** DeleteObject, for the route that deletes a message (and its files). */
  readonly removal: AttachmentsBinding;
  /** Every binding to the bucket, this stack's own included (the cdk-nag acknowledgement covers their functions). */
  readonly bindings: AttachmentsBinding[];

  constructor(scope: Construct, id: string, props: AttachmentsStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // ---- the bindings -------------------------------------------------------------------------
    const accepted = {
      ATTACHMENT_MAX_BYTES: config.attachmentMaxBytes,
      ATTACHMENT_CONTENT_TYPES: config.attachmentContentTypes.join(','),
    };
    this.uploads = new AttachmentsBinding(config.stage, ['s3:PutObject'], {
      ...accepted,
      ATTACHMENT_UPLOAD_EXPIRY_SECONDS: config.attachmentUploadExpirySeconds,
      ATTACHMENT_RATE_LIMIT: config.attachmentRateLimit,
      ATTACHMENT_RATE_WINDOW_SECONDS: config.attachmentRateWindowSeconds,
    });
    this.downloads = new AttachmentsBinding(config.stage, ['s3:GetObject'], {
      ATTACHMENT_DOWNLOAD_EXPIRY_SECONDS: config.attachmentDownloadExpirySeconds,
    });
    this.removal = new AttachmentsBinding(config.stage, ['s3:DeleteObject']);
    // The check reads an object's first bytes (a ranged GetObject) and deletes what it rejects; it
    // judges against the same accepted types and size as the uploads were signed for. Without
    // ListBucket, S3 answers a read of a key that no longer exists (a repeated notification of an
    // object rejected and deleted since) with 403, which the check cannot tell from a refusal: it
    // would fail three times and land in the failure queue instead of reporting the object gone.
    const check = new AttachmentsBinding(config.stage, ['s3:GetObject', 's3:DeleteObject', 's3:ListBucket'], accepted);
    const sweep = new AttachmentsBinding(config.stage, ['s3:DeleteObject']);
    this.bindings = [this.uploads, this.downloads, this.removal, check, sweep];

    // ---- the buckets --------------------------------------------------------------------------
    const privateBucket = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // S3-managed keys, as the queues use theirs: a customer key would add a key policy and a KMS
      // grant to every presigning function for no reader we want to exclude. Server access logs
      // can only be delivered to an SSE-S3 bucket anyway.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      removalPolicy,
    } satisfies s3.BucketProps;
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...privateBucket,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: accessLogRetention }],
    });
    this.bucket = new s3.Bucket(this, 'Attachments', {
      ...privateBucket,
      bucketNamespace: s3.BucketNamespace.ACCOUNT_REGIONAL,
      bucketNamePrefix: attachmentsBucketNamePrefix(config.stage),
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'attachments-bucket/',
      // Browsers PUT and GET the presigned URLs cross-origin, from the apps the HTTP API's CORS
      // allows; the ETag lets an app confirm what it uploaded.
      cors: config.corsOrigins.length
        ? [
            {
              allowedOrigins: config.corsOrigins,
              allowedMethods: [s3.HttpMethods.PUT, s3.HttpMethods.GET, s3.HttpMethods.HEAD],
              allowedHeaders: ['*'],
              exposedHeaders: ['ETag'],
              maxAge: Duration.hours(1).toSeconds(),
            },
          ]
        : undefined,
      // No expiry rule for unsent uploads: a lifecycle rule sees keys, age and tags, not whether a
      // message names the attachment, so the sweep (which reads the database) deletes them.
      // Presigned uploads are single PUTs; this only clears multipart uploads anyone abandoned.
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    // ---- the check on each new object ----------------------------------------------------------
    const queueNames = attachmentFailureQueueNames(config.stage);
    this.checkFailures = failureQueue(this, 'CheckFailures', queueNames.check, removalPolicy);
    this.sweepFailures = failureQueue(this, 'SweepFailures', queueNames.sweep, removalPolicy);

    this.checkFunction = new MessagingFunction(this, 'events-on-attachment-uploaded', {
      stage: config.stage,
      folder: 'events',
      name: 'on-attachment-uploaded',
      description: 'event s3 ObjectCreated attachments/: check the file against its upload, record the verdict',
      timeout: Duration.seconds(60),
      removalPolicy,
      bindings: [props.database, check],
    });
    this.functions.set('on-attachment-uploaded', this.checkFunction);
    // S3 invokes asynchronously: as the order-event functions, two retries, then the on-failure queue.
    this.checkFunction.configureAsyncInvoke({
      onFailure: new destinations.SqsDestination(this.checkFailures),
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
    });
    // The notification is the bucket's own property, not CDK's addEventNotification: that writes
    // it through a custom resource whose Lambda holds PutBucketNotification on every bucket (and an
    // AWS-managed policy). A native configuration needs the invoke permission to exist first, and
    // the permission names the bucket by its known name, so nothing here refers back to the bucket.
    this.checkFunction.addPermission('InvokedByAttachmentsBucket', {
      principal: new iam.ServicePrincipal('s3.amazonaws.com'),
      action: 'lambda:InvokeFunction',
      sourceArn: AttachmentsBinding.bucketArn(this, config.stage),
      sourceAccount: this.account,
    });
    const cfnBucket = this.bucket.node.defaultChild as s3.CfnBucket;
    cfnBucket.notificationConfiguration = {
      lambdaConfigurations: [
        {
          event: 's3:ObjectCreated:*',
          filter: { s3Key: { rules: [{ name: 'prefix', value: attachmentKeyPrefix }] } },
          function: this.checkFunction.functionArn,
        },
      ],
    };
    cfnBucket.node.addDependency(this.checkFunction.node.findChild('InvokedByAttachmentsBucket'));

    // ---- the hourly sweep ------------------------------------------------------------------------
    this.sweepFunction = new MessagingFunction(this, 'ops-sweep-attachments', {
      stage: config.stage,
      folder: 'ops',
      name: 'sweep-attachments',
      description: 'ops, hourly: delete the files and rows of uploads never sent in 24 h and of deleted messages',
      timeout: Duration.minutes(5),
      removalPolicy,
      bindings: [props.database, sweep],
    });
    this.functions.set('sweep-attachments', this.sweepFunction);
    // The scheduler invokes asynchronously. A failed sweep is retried, and after that the next
    // hour's sweep does the same work (it is idempotent), so no failure record is kept.
    this.sweepFunction.configureAsyncInvoke({ retryAttempts: 2, maxEventAge: sweepRate });
    const scheduleName = functionName(config.stage, 'sweep-attachments');
    this.sweepSchedule = new scheduler.Schedule(this, 'SweepSchedule', {
      scheduleName,
      description: `Every hour: ${this.sweepFunction.fixedName}`,
      schedule: scheduler.ScheduleExpression.rate(sweepRate),
      // Delivery retried until the next run is due; what still fails waits in the queue, alarmed.
      target: new InvokeUnqualified(this.sweepFunction, {
        deadLetterQueue: this.sweepFailures,
        retryAttempts: 185,
        maxEventAge: sweepRate,
      }),
    });

    new CfnOutput(this, 'AttachmentsBucketName', { value: this.bucket.bucketName });
  }
}
