import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../lib/http/routes';
import { buildApp } from '../../lib/infra/app';
import {
  attachmentFailureQueueNames,
  attachmentKeyPrefix,
  attachmentsBucketName,
  attachmentsBucketNamePrefix,
} from '../../lib/infra/names';
import { alarmMeanings } from '../../lib/infra/stacks/observability-stack';
import { stageConfig } from '../../lib/infra/stage-config';
import { DEFAULT_ATTACHMENT_MAX_BYTES, defaultAttachmentContentTypes, defaultLimits } from '../../lib/messaging/limits';
import {
  account,
  acknowledgedFindings,
  alarms,
  type Synthesized as Built,
  prodContext as baseProdContext,
  lambdaAlarms,
  noBundling,
  type Resource,
  region,
  synthesize,
} from './synth';

/**
 * The attachments stack: the private bucket and its access-log bucket, the ObjectCreated
 * notification to the check function, the hourly sweep, the three route bindings, who may touch
 * the bucket (exactly the bound functions, each with exactly its actions), cdk-nag, and where the
 * stack sits in the deployment order. Built without bundling (`aws:cdk:bundling-stacks` empty):
 * nothing here depends on the Lambda code.
 */
const prodContext = { ...baseProdContext, corsOrigins: 'https://app.example.com,https://admin.example.com' };
const build = (context: Record<string, unknown>) => synthesize(context, { stack: 'attachments' });

let dev: Built;
let prod: Built;
beforeAll(() => {
  dev = build({ stage: 'dev' });
  prod = build(prodContext);
}, 120_000);

const ofType = (resources: Record<string, Resource>, type: string) =>
  Object.entries(resources).filter(([, r]) => r.Type === type);
const json = (value: unknown) => JSON.stringify(value);
const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const fnId = (resources: Record<string, Resource>, name: string) =>
  ofType(resources, 'AWS::Lambda::Function').find(([, r]) => r.Properties.FunctionName === name)?.[0];
const getAtt = (id: string | undefined) => ({ 'Fn::GetAtt': [id, 'Arn'] });

/** The attachments bucket and the access-log bucket, told apart by the log configuration. */
const buckets = (b: Built) => {
  const all = ofType(b.templates.attachments, 'AWS::S3::Bucket');
  expect(all).toHaveLength(2);
  const attachments = all.find(([, r]) => r.Properties.LoggingConfiguration)!;
  const logs = all.find(([, r]) => !r.Properties.LoggingConfiguration)!;
  return { attachments, logs };
};
const bucketPolicyOf = (b: Built, bucketId: string) =>
  ofType(b.templates.attachments, 'AWS::S3::BucketPolicy').find(([, p]) => p.Properties.Bucket.Ref === bucketId)![1]
    .Properties.PolicyDocument.Statement as any[];

const prodBucket = attachmentsBucketName('prod', account, region);
const prodBucketArn = `arn:aws:s3:::${prodBucket}`;
const prodObjectsArn = `${prodBucketArn}/${attachmentKeyPrefix}*`;

describe('the bucket', () => {
  it('is named in the account-regional namespace, as the bindings name it', () => {
    for (const b of [dev, prod]) {
      const [, bucket] = buckets(b).attachments;
      expect(bucket.Properties).toMatchObject({
        BucketNamespace: 'account-regional',
        BucketNamePrefix: `messaging-${b.stage}-attachments`,
      });
      expect(bucket.Properties.BucketName).toBeUndefined();
    }
    // S3 appends `-<account>-<region>-an` to the prefix in the account-regional namespace.
    expect(prodBucket).toBe(`${attachmentsBucketNamePrefix('prod')}-${account}-${region}-an`);
    expect(prodBucket).toBe('messaging-prod-attachments-111111111111-eu-west-1-an');
    expect(prodBucket.length).toBeLessThanOrEqual(63);
    // The longest region name today still fits S3's 63 characters.
    expect(attachmentsBucketName('prod', account, 'ap-southeast-5').length).toBeLessThanOrEqual(63);
    expect(dev.stacks.attachments.stackName).toBe('Messaging-dev-Attachments');
  });

  it('is private: public access blocked, owner-enforced, S3-managed encryption, no versioning', () => {
    for (const b of [dev, prod]) {
      for (const [, bucket] of Object.values(buckets(b))) {
        expect(bucket.Properties).toMatchObject({
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
          },
        });
        expect(bucket.Properties.VersioningConfiguration).toBeUndefined();
        expect(bucket.Properties.AccessControl).toBeUndefined();
        expect(bucket.Properties.WebsiteConfiguration).toBeUndefined();
      }
    }
  });

  it('refuses plain HTTP and TLS below 1.2, and allows nobody anything by its own policy', () => {
    for (const b of [dev, prod]) {
      const [bucketId] = buckets(b).attachments;
      const statements = bucketPolicyOf(b, bucketId);
      expect(statements.map((s) => s.Effect)).toEqual(['Deny', 'Deny']);
      const resources = [getAtt(bucketId), { 'Fn::Join': ['', [getAtt(bucketId), '/*']] }];
      expect(statements).toEqual([
        {
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          Resource: resources,
        },
        {
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:*',
          Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
          Resource: resources,
        },
      ]);
    }
  });

  it('allows cross-origin PUT, GET and HEAD from the apps the HTTP API allows, exposing the ETag', () => {
    const corsOf = (b: Built) => buckets(b).attachments[1].Properties.CorsConfiguration;
    const apiOrigins = (b: Built) =>
      ofType(b.templates.httpApi, 'AWS::ApiGatewayV2::Api')[0]![1].Properties.CorsConfiguration?.AllowOrigins;
    expect(corsOf(dev)).toEqual({
      CorsRules: [
        {
          AllowedOrigins: ['http://localhost:3000'],
          AllowedMethods: ['PUT', 'GET', 'HEAD'],
          AllowedHeaders: ['*'],
          ExposedHeaders: ['ETag'],
          MaxAge: 3600,
        },
      ],
    });
    expect(corsOf(prod).CorsRules[0].AllowedOrigins).toEqual(['https://app.example.com', 'https://admin.example.com']);
    for (const b of [dev, prod]) expect(corsOf(b).CorsRules[0].AllowedOrigins).toEqual(apiOrigins(b));
    // No origins configured (prod's default): no CORS at all, as on the HTTP API.
    const { corsOrigins: _, ...withoutOrigins } = prodContext;
    const bare = buildApp({ context: { ...noBundling, ...withoutOrigins } }, { env: {} });
    const bucket = ofType(Template.fromStack(bare.stacks.attachments).toJSON().Resources, 'AWS::S3::Bucket').find(
      ([, r]) => r.Properties.LoggingConfiguration,
    )!;
    expect(bucket[1].Properties.CorsConfiguration).toBeUndefined();
  });

  it('only aborts abandoned multipart uploads by lifecycle: the sweep, not a rule, deletes unsent uploads', () => {
    for (const b of [dev, prod]) {
      expect(buckets(b).attachments[1].Properties.LifecycleConfiguration).toEqual({
        Rules: [
          {
            Id: 'abort-incomplete-multipart-uploads',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            Status: 'Enabled',
          },
        ],
      });
    }
  });

  it('writes server access logs to a bucket of their own, which keeps them 90 days', () => {
    for (const b of [dev, prod]) {
      const { attachments, logs } = buckets(b);
      expect(attachments[1].Properties.LoggingConfiguration).toEqual({
        DestinationBucketName: { Ref: logs[0] },
        LogFilePrefix: 'attachments-bucket/',
      });
      expect(logs[1].Properties.LifecycleConfiguration).toEqual({
        Rules: [{ Id: 'expire-access-logs', ExpirationInDays: 90, Status: 'Enabled' }],
      });
      // The log bucket's policy: TLS only, and S3's log delivery for this bucket's logs, nothing else.
      const statements = bucketPolicyOf(b, logs[0]);
      expect(statements.filter((s) => s.Effect === 'Deny').map((s) => s.Condition)).toEqual([
        { Bool: { 'aws:SecureTransport': 'false' } },
        { NumericLessThan: { 's3:TlsVersion': 1.2 } },
      ]);
      const allows = statements.filter((s) => s.Effect === 'Allow');
      expect(allows).toHaveLength(1);
      expect(allows[0]).toMatchObject({
        Principal: { Service: 'logging.s3.amazonaws.com' },
        Action: 's3:PutObject',
        Resource: { 'Fn::Join': ['', [getAtt(logs[0]), '/attachments-bucket/*']] },
        Condition: { ArnLike: { 'aws:SourceArn': getAtt(attachments[0]) } },
      });
      expect(json(allows[0].Condition.StringEquals['aws:SourceAccount'])).toBe(
        b.stage === 'prod' ? json(account) : json({ Ref: 'AWS::AccountId' }),
      );
    }
  });

  it('keeps the buckets and queues in prod and tears them down in dev', () => {
    for (const [b, policy] of [
      [dev, 'Delete'],
      [prod, 'Retain'],
    ] as const) {
      for (const [id, resource] of Object.entries(b.templates.attachments).filter(([, r]) =>
        ['AWS::S3::Bucket', 'AWS::SQS::Queue', 'AWS::Logs::LogGroup'].includes(r.Type),
      ))
        expect(resource.DeletionPolicy, id).toBe(policy);
    }
  });

  it('outputs the bucket name', () => {
    expect(dev.outputs.AttachmentsBucketName.Value).toEqual({ Ref: buckets(dev).attachments[0] });
  });
});

describe('the check on each new object', () => {
  it('is notified of ObjectCreated under attachments/ only, by the bucket itself', () => {
    for (const b of [dev, prod]) {
      const resources = b.templates.attachments;
      const check = fnId(resources, `messaging-${b.stage}-on-attachment-uploaded`);
      expect(check).toBeDefined();
      expect(buckets(b).attachments[1].Properties.NotificationConfiguration).toEqual({
        LambdaConfigurations: [
          {
            Event: 's3:ObjectCreated:*',
            Filter: { S3Key: { Rules: [{ Name: 'prefix', Value: 'attachments/' }] } },
            Function: getAtt(check),
          },
        ],
      });
      // No CDK notification custom resource (its Lambda may PutBucketNotification on any bucket).
      for (const resources of Object.values(b.templates))
        expect(
          Object.values(resources).filter((r) => r.Type === 'Custom::S3BucketNotifications'),
          'custom notifications',
        ).toEqual([]);
    }
  });

  it('lets S3 invoke the check for this bucket of this account, before the bucket names it', () => {
    const resources = prod.templates.attachments;
    const check = fnId(resources, 'messaging-prod-on-attachment-uploaded');
    const permissions = ofType(resources, 'AWS::Lambda::Permission');
    expect(permissions).toHaveLength(1);
    const [permissionId, permission] = permissions[0]!;
    expect(permission.Properties).toEqual({
      Action: 'lambda:InvokeFunction',
      FunctionName: getAtt(check),
      Principal: 's3.amazonaws.com',
      SourceAccount: account,
      SourceArn: prodBucketArn,
    });
    // S3 checks the destination's permission when the configuration is set.
    expect(buckets(prod).attachments[1].DependsOn).toEqual([permissionId]);
  });

  it('retries twice, then sends the event to its failure queue', () => {
    for (const b of [dev, prod]) {
      const resources = b.templates.attachments;
      const check = fnId(resources, `messaging-${b.stage}-on-attachment-uploaded`);
      const queue = ofType(resources, 'AWS::SQS::Queue').find(
        ([, q]) => q.Properties.QueueName === attachmentFailureQueueNames(b.stage).check,
      )!;
      const [, config] = ofType(resources, 'AWS::Lambda::EventInvokeConfig').find(
        ([, c]) => c.Properties.FunctionName.Ref === check,
      )!;
      expect(config.Properties).toEqual({
        FunctionName: { Ref: check },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 6 * 3600,
        DestinationConfig: { OnFailure: { Destination: getAtt(queue[0]) } },
      });
      expect(queue[1].Properties).toMatchObject({ MessageRetentionPeriod: 14 * 24 * 3600, SqsManagedSseEnabled: true });
      expect(resources[check!]!.Properties.Timeout).toBe(60);
    }
  });
});

describe('the hourly sweep', () => {
  it('runs every hour on EventBridge Scheduler, retried within the hour, with a dead-letter queue', () => {
    for (const b of [dev, prod]) {
      const resources = b.templates.attachments;
      const sweep = fnId(resources, `messaging-${b.stage}-sweep-attachments`);
      const queue = ofType(resources, 'AWS::SQS::Queue').find(
        ([, q]) => q.Properties.QueueName === attachmentFailureQueueNames(b.stage).sweep,
      )!;
      const schedules = ofType(resources, 'AWS::Scheduler::Schedule');
      expect(schedules).toHaveLength(1);
      const [, schedule] = schedules[0]!;
      expect(schedule.Properties).toMatchObject({
        Name: `messaging-${b.stage}-sweep-attachments`,
        ScheduleExpression: 'rate(1 hour)',
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: {
          Arn: getAtt(sweep),
          RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 185 },
          DeadLetterConfig: { Arn: getAtt(queue[0]) },
        },
      });
      expect(schedule.Properties.Target.Input).toBeUndefined();
      // A failed run is retried twice; after that the next hour's run does the same work.
      const [, config] = ofType(resources, 'AWS::Lambda::EventInvokeConfig').find(
        ([, c]) => c.Properties.FunctionName.Ref === sweep,
      )!;
      expect(config.Properties).toEqual({
        FunctionName: { Ref: sweep },
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 3600,
      });
      expect(resources[sweep!]!.Properties.Timeout).toBe(300);
    }
  });

  it('runs as a role Scheduler assumes for this account’s default group, which may invoke the sweep alone', () => {
    const resources = prod.templates.attachments;
    const [, schedule] = ofType(resources, 'AWS::Scheduler::Schedule')[0]!;
    const roleId = schedule.Properties.Target.RoleArn['Fn::GetAtt'][0];
    expect(resources[roleId]!.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'scheduler.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: {
          StringEquals: {
            'aws:SourceAccount': account,
            'aws:SourceArn': `arn:aws:scheduler:${region}:${account}:schedule-group/default`,
          },
        },
      },
    ]);
    const policies = ofType(resources, 'AWS::IAM::Policy').filter(([, p]) =>
      json(p.Properties.Roles).includes(`"${roleId}"`),
    );
    expect(policies).toHaveLength(1);
    const sweep = fnId(resources, 'messaging-prod-sweep-attachments');
    const queue = ofType(resources, 'AWS::SQS::Queue').find(
      ([, q]) => q.Properties.QueueName === 'messaging-prod-attachment-sweep-failures',
    )![0];
    // No `<function>:*`: the schedule invokes the unqualified function and nothing else.
    expect(policies[0]![1].Properties.PolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: getAtt(sweep) },
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: getAtt(queue) },
    ]);
  });
});

describe('who may touch the bucket', () => {
  /** Function name (or role id, for a role no function has) → its statements that name S3 or the bucket. */
  const bucketStatements = (b: Built) => {
    const granted = new Map<string, any[]>();
    for (const resources of Object.values(b.templates)) {
      for (const [policyId, policy] of ofType(resources, 'AWS::IAM::Policy')) {
        const statements = (policy.Properties.PolicyDocument.Statement as any[]).filter(
          (s) =>
            asList(s.Action).some((a: string) => a.startsWith('s3:') || a === '*') ||
            json(s.Resource).includes(attachmentsBucketNamePrefix(b.stage)),
        );
        if (!statements.length) continue;
        for (const role of policy.Properties.Roles as { Ref: string }[]) {
          const fn = ofType(resources, 'AWS::Lambda::Function').find(
            ([, f]) => json(f.Properties.Role) === json(getAtt(role.Ref)),
          );
          const name = fn ? (fn[1].Properties.FunctionName as string) : `${policyId} (role ${role.Ref})`;
          granted.set(name, [...(granted.get(name) ?? []), ...statements]);
        }
      }
    }
    return granted;
  };

  it('is the bound functions alone, each with exactly its actions, on attachments/* (ListBucket for the check)', () => {
    const granted = bucketStatements(prod);
    const objects = (...actions: string[]) => ({
      Effect: 'Allow',
      Action: actions.length === 1 ? actions[0] : actions,
      Resource: prodObjectsArn,
    });
    expect(Object.fromEntries(granted)).toEqual({
      'messaging-prod-create-attachment': [objects('s3:PutObject')],
      'messaging-prod-get-attachment': [objects('s3:GetObject')],
      'messaging-prod-delete-message': [objects('s3:DeleteObject')],
      'messaging-prod-on-attachment-uploaded': [
        objects('s3:DeleteObject', 's3:GetObject'),
        { Effect: 'Allow', Action: 's3:ListBucket', Resource: prodBucketArn },
      ],
      'messaging-prod-sweep-attachments': [objects('s3:DeleteObject')],
    });
    // The route table says which routes hold which binding.
    expect(routes.createAttachment.bindings).toEqual(['database', 'attachmentUploads']);
    expect(routes.getAttachment.bindings).toEqual(['database', 'attachmentDownloads']);
    expect(routes.deleteMessage.bindings).toContain('attachmentRemoval');
  });

  it('is the same in dev, where the account and region are the stack’s own', () => {
    const granted = bucketStatements(dev);
    expect([...granted.keys()].sort()).toEqual(
      ['create-attachment', 'delete-message', 'get-attachment', 'on-attachment-uploaded', 'sweep-attachments'].map(
        (n) => `messaging-dev-${n}`,
      ),
    );
    const bucket = [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':s3:::messaging-dev-attachments-',
      { Ref: 'AWS::AccountId' },
      '-',
      { Ref: 'AWS::Region' },
      '-an',
    ];
    for (const [name, statements] of granted) {
      for (const statement of statements) {
        const parts = statement.Resource['Fn::Join'][1];
        if (statement.Action === 's3:ListBucket') expect(parts, name).toEqual(bucket);
        else expect(parts, name).toEqual([...bucket.slice(0, -1), '-an/attachments/*']);
      }
    }
  });

  it('hands the bound functions the bucket’s name and the stage’s attachment settings, and nobody else', () => {
    const env = (name: string) =>
      Object.values(prod.templates)
        .flatMap((resources) => ofType(resources, 'AWS::Lambda::Function'))
        .find(([, f]) => f.Properties.FunctionName === `messaging-prod-${name}`)![1].Properties.Environment.Variables;
    const attachmentVariables = (name: string) =>
      Object.fromEntries(Object.entries(env(name)).filter(([key]) => key.startsWith('ATTACHMENT')));
    const accepted = {
      ATTACHMENT_MAX_BYTES: String(DEFAULT_ATTACHMENT_MAX_BYTES),
      ATTACHMENT_CONTENT_TYPES: defaultAttachmentContentTypes.join(','),
    };
    expect(attachmentVariables('create-attachment')).toEqual({
      ATTACHMENTS_BUCKET: prodBucket,
      ...accepted,
      ATTACHMENT_UPLOAD_EXPIRY_SECONDS: '300',
      ATTACHMENT_RATE_LIMIT: String(defaultLimits.attachmentLimit),
      ATTACHMENT_RATE_WINDOW_SECONDS: String(defaultLimits.attachmentWindowSeconds),
    });
    expect(attachmentVariables('get-attachment')).toEqual({
      ATTACHMENTS_BUCKET: prodBucket,
      ATTACHMENT_DOWNLOAD_EXPIRY_SECONDS: '300',
    });
    expect(attachmentVariables('delete-message')).toEqual({ ATTACHMENTS_BUCKET: prodBucket });
    expect(attachmentVariables('on-attachment-uploaded')).toEqual({ ATTACHMENTS_BUCKET: prodBucket, ...accepted });
    expect(attachmentVariables('sweep-attachments')).toEqual({ ATTACHMENTS_BUCKET: prodBucket });
    // Nobody else, and never the local stack's endpoint.
    const withBucket = Object.values(prod.templates)
      .flatMap((resources) => ofType(resources, 'AWS::Lambda::Function'))
      .filter(
        ([, f]) =>
          f.Properties.Environment?.Variables && json(f.Properties.Environment.Variables).includes('ATTACHMENT'),
      )
      .map(([, f]) => f.Properties.FunctionName)
      .sort();
    expect(withBucket).toEqual(
      ['create-attachment', 'delete-message', 'get-attachment', 'on-attachment-uploaded', 'sweep-attachments'].map(
        (n) => `messaging-prod-${n}`,
      ),
    );
    expect(json(prod.templates)).not.toContain('ATTACHMENTS_S3_ENDPOINT');
    expect(json(dev.templates)).not.toContain('ATTACHMENTS_S3_ENDPOINT');
  });

  it('takes the settings from the stage’s context', () => {
    const custom = buildApp(
      {
        context: {
          ...noBundling,
          ...prodContext,
          attachmentMaxBytes: 1048576,
          attachmentContentTypes: 'image/png, IMAGE/JPEG',
          attachmentUploadExpirySeconds: '120',
          attachmentDownloadExpirySeconds: '60',
          attachmentRateLimit: '5',
          attachmentRateWindowSeconds: '30',
        },
      },
      { env: {} },
    );
    const variables = (fn: { node: { defaultChild?: unknown } }) =>
      custom.stacks.httpApi.resolve((fn.node.defaultChild as any).environment).variables;
    expect(variables(custom.stacks.httpApi.functions.get('create-attachment')!)).toMatchObject({
      ATTACHMENT_MAX_BYTES: '1048576',
      ATTACHMENT_CONTENT_TYPES: 'image/png,image/jpeg',
      ATTACHMENT_UPLOAD_EXPIRY_SECONDS: '120',
      ATTACHMENT_RATE_LIMIT: '5',
      ATTACHMENT_RATE_WINDOW_SECONDS: '30',
    });
    expect(variables(custom.stacks.httpApi.functions.get('get-attachment')!)).toMatchObject({
      ATTACHMENT_DOWNLOAD_EXPIRY_SECONDS: '60',
    });
  });

  it('grants no action wildcard and no managed policy to anything of the attachments stack', () => {
    for (const [id, policy] of ofType(prod.templates.attachments, 'AWS::IAM::Policy'))
      for (const statement of policy.Properties.PolicyDocument.Statement)
        for (const action of asList(statement.Action) as string[]) expect(action, id).not.toMatch(/\*/);
    for (const [id, role] of ofType(prod.templates.attachments, 'AWS::IAM::Role'))
      expect(role.Properties.ManagedPolicyArns, id).toBeUndefined();
  });
});

describe('stage configuration of attachments', () => {
  const config = (context: Record<string, unknown>) => () => stageConfig((key) => context[key], {});

  it('defaults to lib/messaging/limits.ts', () => {
    expect(config({})()).toMatchObject({
      attachmentMaxBytes: DEFAULT_ATTACHMENT_MAX_BYTES,
      attachmentContentTypes: defaultAttachmentContentTypes,
      attachmentRateLimit: defaultLimits.attachmentLimit,
      attachmentRateWindowSeconds: defaultLimits.attachmentWindowSeconds,
      attachmentUploadExpirySeconds: 300,
      attachmentDownloadExpirySeconds: 300,
      sendRateLimit: defaultLimits.sendLimit,
    });
  });

  it('refuses at synth what the functions would refuse at cold start, naming the context key', () => {
    expect(config({ attachmentMaxBytes: 'abc' })).toThrow(/-c attachmentMaxBytes: must be a whole number/);
    expect(config({ attachmentRateLimit: 0 })).toThrow(/-c attachmentRateLimit: must be a whole number from 1 to 1000/);
    expect(config({ sendRateLimit: 1001 })).toThrow(/-c sendRateLimit: must be a whole number from 1 to 1000/);
    expect(config({ sendRateLimit: '2.5' })).toThrow(/-c sendRateLimit: must be a whole number/);
    expect(config({ attachmentContentTypes: ' , ' })).toThrow(/attachmentContentTypes: must name at least one type/);
    expect(config({ attachmentContentTypes: 'image/png,video/mp4' })).toThrow(
      /-c attachmentContentTypes: must list only types the upload check knows/,
    );
    expect(config({ attachmentMaxBytes: 6 * 1024 ** 3 })).toThrow(
      /attachmentMaxBytes: must be a whole number from 1 to 5368709120/,
    );
    expect(config({ attachmentUploadExpirySeconds: 3601 })).toThrow(
      /attachmentUploadExpirySeconds: must be a whole number from 1 to 3600/,
    );
    expect(config({ attachmentDownloadExpirySeconds: 3600 })).not.toThrow();
  });
});

describe('alarms', () => {
  it('alarm on both failure queues, and on errors and throttles of the check and the sweep', () => {
    const topic = ofType(dev.templates.observability, 'AWS::SNS::Topic')[0]![0];
    for (const [queue, id] of [
      [attachmentFailureQueueNames('dev').check, 'attachment-check-failures'],
      [attachmentFailureQueueNames('dev').sweep, 'attachment-sweep-failures'],
    ] as const) {
      const found = alarms(dev).filter(
        (a) => a.MetricName === 'ApproximateNumberOfMessagesVisible' && a.Dimensions[0].Value === queue,
      );
      expect(found, queue).toHaveLength(1);
      expect(found[0]).toMatchObject({
        AlarmName: `messaging-dev-${id}`,
        AlarmDescription: alarmMeanings[id],
        Namespace: 'AWS/SQS',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [{ Ref: topic }],
      });
    }
    for (const name of ['on-attachment-uploaded', 'sweep-attachments'])
      for (const metric of ['Errors', 'Throttles'])
        expect(lambdaAlarms(dev, name, metric), `${metric} ${name}`).toHaveLength(1);
  });
});

describe('cdk-nag', () => {
  const attachmentFindings = (b: Built) =>
    acknowledgedFindings(b).filter(
      (f) => f.path.startsWith(`Messaging-${b.stage}-Attachments/`) || f.id.includes('attachments/*'),
    );

  it('leaves no finding unacknowledged, errors and warnings alike, in dev and prod', () => {
    for (const b of [dev, prod]) {
      for (const report of b.report.pluginReports) {
        expect(report.violations).toEqual([]);
        expect(report.conclusion).toBe('success');
      }
    }
  });

  it('acknowledges the attachments/* object wildcard for the bound functions alone, and the failure queues', () => {
    const found = attachmentFindings(prod)
      .map((f) => `${f.path.replace(/\/Resource$/, '')} ${f.id}`)
      .sort();
    const objects = `AwsSolutions::AwsSolutions-IAM5[Resource::${prodObjectsArn}]`;
    expect(found).toEqual(
      [
        'Messaging-prod-Attachments/CheckFailures AwsSolutions::AwsSolutions-SQS3',
        'Messaging-prod-Attachments/SweepFailures AwsSolutions::AwsSolutions-SQS3',
        `Messaging-prod-Attachments/events-on-attachment-uploaded-role/DefaultPolicy ${objects}`,
        `Messaging-prod-Attachments/ops-sweep-attachments-role/DefaultPolicy ${objects}`,
        `Messaging-prod-HttpApi/http-create-attachment-role/DefaultPolicy ${objects}`,
        `Messaging-prod-HttpApi/http-delete-message-role/DefaultPolicy ${objects}`,
        `Messaging-prod-HttpApi/http-get-attachment-role/DefaultPolicy ${objects}`,
      ].sort(),
    );
    for (const finding of attachmentFindings(prod)) expect(finding.reason.length, finding.path).toBeGreaterThan(40);
    expect(attachmentFindings(dev)).toHaveLength(found.length);
  });
});

describe('where the stack sits in the deployment', () => {
  it('comes after Data and before HttpApi and Observability, and waits for nothing else', () => {
    for (const b of [dev, prod]) {
      const name = (concern: string) => `Messaging-${b.stage}-${concern}`;
      expect(b.dependencies(name('Attachments'))).toEqual([name('Data')]);
      expect(b.dependencies(name('HttpApi'))).toContain(name('Attachments'));
      expect(b.dependencies(name('Observability'))).toContain(name('Attachments'));
      // Nothing of the other consumers is bound to the bucket, so they do not wait for it.
      for (const other of ['Auth', 'WebSocket', 'Events'])
        expect(b.dependencies(name(other)), other).not.toContain(name('Attachments'));
      // It refers to no stack but Data (the database binding's outputs).
      expect(json(b.templates.attachments)).not.toMatch(
        new RegExp(`Messaging-${b.stage}-(Auth|WebSocket|HttpApi|Events|Observability)`),
      );
    }
  });
});
