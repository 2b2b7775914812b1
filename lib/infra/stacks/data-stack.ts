import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as triggers from 'aws-cdk-lib/triggers';
import type { Construct } from 'constructs';
import { appRoleName } from '../../db/app-role';
import { DatabaseBinding, MessagingFunction, SecretBinding } from '../messaging-function';
import type { StageConfig } from '../stage-config';

export interface DataStackProps extends StackProps {
  config: StageConfig;
}

/** Aurora PostgreSQL 16, its current minor version in aws-cdk-lib (Serverless v2 with 0 ACU needs ≥ 16.3). */
export const auroraEngineVersion = rds.AuroraPostgresEngineVersion.VER_16_13;

export const databaseName = 'messaging';

/**
 * The database and everything that must be true of it before any traffic arrives: the cluster,
 * the application role's secret, and the migration, which runs at deploy time (a CDK trigger)
 * and creates or updates the application role. Every stack with a consumer depends on this one,
 * so CloudFormation finishes the migration before it creates or updates any function, route or
 * event rule.
 */
export class DataStack extends Stack {
  readonly cluster: rds.DatabaseCluster;
  readonly clusterIdentifier: string;
  /** What runtime functions connect as (the application role), attached to the cluster. */
  readonly appSecret: secretsmanager.ISecret;
  readonly appDatabaseSecret: rds.DatabaseSecret;
  readonly migrate: MessagingFunction;
  readonly migration: triggers.Trigger;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // The Lambdas reach Aurora through the Data API (HTTPS), so the cluster lives in isolated
    // subnets with no route out, and the functions need no VPC.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'database', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      flowLogs: { all: { trafficType: ec2.FlowLogTrafficType.REJECT } },
    });
    this.clusterIdentifier = `messaging-${config.stage}`;
    this.cluster = new rds.DatabaseCluster(this, 'Database', {
      clusterIdentifier: this.clusterIdentifier,
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: auroraEngineVersion }),
      credentials: rds.Credentials.fromGeneratedSecret('messaging_admin'),
      defaultDatabaseName: databaseName,
      writer: rds.ClusterInstance.serverlessV2('writer'),
      serverlessV2MinCapacity: config.minCapacity,
      serverlessV2MaxCapacity: config.maxCapacity,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      enableDataApi: true,
      storageEncrypted: true,
      iamAuthentication: true,
      backup: { retention: Duration.days(config.keepData ? 30 : 7) },
      deletionProtection: config.keepData,
      removalPolicy: config.keepData ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
      cloudwatchLogsExports: ['postgresql'],
    });

    // The application role's own generated password (the migration sets it on the role). The
    // default excluded characters keep it printable ASCII, which the SCRAM verifier needs.
    const appSecret = new rds.DatabaseSecret(this, 'AppDatabaseSecret', {
      username: appRoleName,
      dbname: databaseName,
      secretName: `messaging-${config.stage}/database/${appRoleName}`,
    });
    appSecret.applyRemovalPolicy(removalPolicy);
    this.appDatabaseSecret = appSecret;
    this.appSecret = appSecret.attach(this.cluster);

    // Only the migration holds the admin (master) secret.
    this.migrate = new MessagingFunction(this, 'ops-migrate', {
      stage: config.stage,
      folder: 'ops',
      name: 'migrate',
      description: 'ops: run database migrations and grant the application role, at deploy',
      timeout: Duration.minutes(5),
      removalPolicy,
      bindings: [
        new DatabaseBinding({ clusterArn: this.cluster.clusterArn, secret: this.cluster.secret!, databaseName }),
        new SecretBinding('APP_DB_SECRET_ARN', this.appSecret),
      ],
    });
    this.migration = new triggers.Trigger(this, 'MigrateOnDeploy', {
      handler: this.migrate,
      executeAfter: [this.cluster, this.appSecret],
      executeOnHandlerChange: true,
      timeout: Duration.minutes(10),
    });
  }
}
