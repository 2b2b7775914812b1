import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as cognito from 'aws-cdk-lib/aws-cognito';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { type RouteBinding, routeKey, routeList, routeMethods } from '../../http/routes';
import { type FunctionBinding, MessagingFunction } from '../messaging-function';
import type { StageConfig } from '../stage-config';

export interface HttpApiStackProps extends StackProps {
  config: StageConfig;
  userPool: cognito.IUserPool;
  appClient: cognito.IUserPoolClient;
  /** What each binding named in the route table means here. */
  bindings: Record<RouteBinding, FunctionBinding>;
}

/**
 * Throttling for the whole API and, tighter, for `send` routes (the per-user limit is in the
 * database) and for `public` routes: anyone may call those, unauthenticated, and the stage's limit
 * is shared by every route, so a flood of one must not use it up.
 */
export const throttling = {
  default: { burst: 500, rate: 250 },
  send: { burst: 100, rate: 50 },
  public: { burst: 20, rate: 10 },
} as const;

/**
 * The HTTP API: one Lambda per route of the route table, every route behind the Cognito JWT
 * authorizer except the `public` ones (see below).
 */
export class HttpApiStack extends Stack {
  readonly api: apigw.HttpApi;
  readonly functions = new Map<string, MessagingFunction>();
  /** The routes without an authorizer, by route id (cdk-nag's APIG4 is acknowledged for them alone). */
  readonly publicRoutes = new Map<string, apigw.HttpRoute>();

  constructor(scope: Construct, id: string, props: HttpApiStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    const authorizer = new HttpJwtAuthorizer(
      'Cognito',
      `https://cognito-idp.${this.region}.amazonaws.com/${props.userPool.userPoolId}`,
      {
        jwtAudience: [props.appClient.userPoolClientId],
        identitySource: ['$request.header.Authorization'],
      },
    );
    this.api = new apigw.HttpApi(this, 'Api', {
      apiName: `messaging-${config.stage}`,
      defaultAuthorizer: authorizer,
      corsPreflight: config.corsOrigins.length
        ? {
            allowOrigins: config.corsOrigins,
            // Every method of the route table, as the local stack answers it (lib/local/cors.ts).
            allowMethods: routeMethods.map((method) => apigw.CorsHttpMethod[method]),
            allowHeaders: ['authorization', 'content-type'],
            exposeHeaders: ['retry-after'],
            maxAge: Duration.hours(1),
          }
        : undefined,
    });
    const stage = this.api.defaultStage!.node.defaultChild as apigw.CfnStage;
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy,
    });
    stage.accessLogSettings = {
      destinationArn: accessLogs.logGroupArn,
      format: JSON.stringify({
        requestId: '$context.requestId',
        routeKey: '$context.routeKey',
        status: '$context.status',
        sub: '$context.authorizer.claims.sub',
        latencyMs: '$context.responseLatency',
        integrationError: '$context.integrationErrorMessage',
        authorizerError: '$context.authorizer.error',
        ip: '$context.identity.sourceIp',
      }),
    };
    // Detailed metrics give the per-route Count/4xx/5xx/Latency the dashboard shows.
    stage.defaultRouteSettings = {
      throttlingBurstLimit: throttling.default.burst,
      throttlingRateLimit: throttling.default.rate,
      detailedMetricsEnabled: true,
    };
    // RouteSettings is raw JSON in CloudFormation (a map of route key to settings): CDK passes it
    // through unconverted, so the keys must be spelt as the AWS::ApiGatewayV2::Stage schema's
    // RouteSettings definition spells them. test/infra checks every raw-JSON property we write.
    const routeSettings: Record<
      string,
      { ThrottlingBurstLimit: number; ThrottlingRateLimit: number; DetailedMetricsEnabled: boolean }
    > = {};
    for (const route of routeList) {
      const fn = new MessagingFunction(this, `http-${route.id}`, {
        stage: config.stage,
        folder: 'http',
        name: route.id,
        description: `http ${routeKey(route)}`,
        timeout: Duration.seconds(25),
        removalPolicy,
        bindings: route.bindings.map((name) => props.bindings[name]),
      });
      this.functions.set(route.id, fn);
      const [created] = this.api.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        integration: new HttpLambdaIntegration(`${route.id}-integration`, fn),
        // A `public` route has no authorizer: the one-click unsubscribe (RFC 8058) is POSTed by the
        // recipient's mail provider, which holds no Cognito token. The link's own token (an HMAC
        // under the unsubscribe key, naming the user) is what the function verifies; without a
        // valid one it answers 403 and changes nothing.
        authorizer: route.access === 'public' ? new apigw.HttpNoneAuthorizer() : undefined,
      });
      if (route.access === 'public') this.publicRoutes.set(route.id, created!);
      // Route settings name routes by key; the stage must come after the routes exist.
      stage.node.addDependency(created!);
      const limit = route.access === 'public' ? 'public' : route.rateLimit === 'send' ? 'send' : undefined;
      if (limit) {
        routeSettings[routeKey(route)] = {
          ThrottlingBurstLimit: throttling[limit].burst,
          ThrottlingRateLimit: throttling[limit].rate,
          DetailedMetricsEnabled: true,
        };
      }
    }
    stage.routeSettings = routeSettings;

    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint });
  }
}
