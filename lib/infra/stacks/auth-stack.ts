import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import type { Construct } from 'constructs';
import { type FunctionBinding, MessagingFunction } from '../messaging-function';
import type { StageConfig } from '../stage-config';

export interface AuthStackProps extends StackProps {
  config: StageConfig;
  database: FunctionBinding;
}

/** The Cognito user pool, its app client and groups, and the post-confirmation trigger. */
export class AuthStack extends Stack {
  readonly userPool: cognito.UserPool;
  readonly appClient: cognito.UserPoolClient;
  readonly postConfirmation: MessagingFunction;

  constructor(scope: Construct, id: string, props: AuthStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // Cognito waits at most 5 s for this trigger, and a paused dev cluster takes ~15 s to resume:
    // the handler records the user within its own budget or gives up (the API records callers on
    // first sight anyway), and the function's timeout matches Cognito's.
    this.postConfirmation = new MessagingFunction(this, 'cognito-post-confirmation', {
      stage: config.stage,
      folder: 'cognito',
      name: 'post-confirmation',
      description: 'cognito post-confirmation and pre-token-generation: record the user and their profile',
      timeout: Duration.seconds(5),
      removalPolicy,
      bindings: [props.database],
    });
    this.userPool = new cognito.UserPool(this, 'Users', {
      userPoolName: `messaging-${config.stage}`,
      selfSignUpEnabled: true,
      signInAliases: { email: true },
      autoVerify: { email: true },
      passwordPolicy: {
        minLength: 12,
        requireDigits: true,
        requireLowercase: true,
        requireUppercase: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: cognito.Mfa.OPTIONAL,
      mfaSecondFactor: { sms: false, otp: true },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      deletionProtection: config.keepData,
      removalPolicy,
      // The same function keeps the profile current at every sign-in and token refresh.
      lambdaTriggers: { postConfirmation: this.postConfirmation, preTokenGeneration: this.postConfirmation },
      // The built-in sender allows a few dozen emails a day per account: fine for dev, not for
      // sign-ups in prod, where mail goes through SES from a verified identity (as Cognito advises).
      email: config.ses
        ? cognito.UserPoolEmail.withSES({
            fromEmail: config.ses.fromEmail,
            fromName: config.ses.fromName,
            sesVerifiedDomain: config.ses.verifiedDomain,
            configurationSetName: config.ses.configurationSet,
          })
        : cognito.UserPoolEmail.withCognito(),
    });
    this.appClient = this.userPool.addClient('AppClient', {
      authFlows: { userSrp: true },
      // Apps sign in with SRP through the Cognito SDKs; no hosted-UI OAuth flows (and no implicit grant).
      disableOAuth: true,
      generateSecret: false,
      preventUserExistenceErrors: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
    });
    ['admin', 'agent', 'service_provider'].forEach((groupName, precedence) => {
      new cognito.CfnUserPoolGroup(this, `Group-${groupName}`, {
        userPoolId: this.userPool.userPoolId,
        groupName,
        precedence,
      });
    });

    new CfnOutput(this, 'UserPoolId', { value: this.userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', { value: this.appClient.userPoolClientId });
  }
}
