import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as cognito from 'aws-cdk-lib/aws-cognito';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { RouteBinding } from '../../http/routes';
import { routeSelectionExpression, webSocketAuthorizer, webSocketRouteList } from '../../realtime/routes';
import { ConnectionsBinding, EnvironmentBinding, type FunctionBinding, MessagingFunction } from '../messaging-function';
import { type StageConfig, webSocketThrottling } from '../stage-config';

export interface WebSocketStackProps extends StackProps {
  config: StageConfig;
  userPool: cognito.IUserPool;
  appClient: cognito.IUserPoolClient;
  /** What each binding named in the route table means here; `connections` is this stack's own. */
  bindings: Record<Exclude<RouteBinding, 'connections'>, FunctionBinding>;
}

/**
 * The WebSocket API beside the HTTP API: one Lambda and one route per entry of the WebSocket route
 * table (lib/realtime/routes.ts), routes selected by the frame's `action`, `$connect` behind a
 * Lambda REQUEST authorizer that verifies the Cognito access token in the `token` query parameter.
 * Other routes need no authorizer: API Gateway runs them only on a connection `$connect` accepted.
 *
 * `connections` (PostToConnection on this API's stage) is made here and bound to whatever names it:
 * the routes of this table, the HTTP routes and the order-event functions (app.ts), whose stacks
 * therefore deploy after this one.
 *
 * Access logging on a WebSocket stage needs the account's API Gateway CloudWatch Logs role (set once
 * per account and region, see the README's deployment section); HTTP APIs do not.
 */
export class WebSocketStack extends Stack {
  readonly api: apigw.WebSocketApi;
  readonly stage: apigw.WebSocketStage;
  /** Every function of this stack by name: the route functions and the authorizer. */
  readonly functions = new Map<string, MessagingFunction>();
  readonly authorizerFunction: MessagingFunction;
  /** The API's routes by route key. */
  readonly routes = new Map<string, apigw.WebSocketRoute>();
  /** PostToConnection on this API's stage, for any function that pushes. */
  readonly connections: ConnectionsBinding;

  constructor(scope: Construct, id: string, props: WebSocketStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.keepData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.api = new apigw.WebSocketApi(this, 'Api', {
      apiName: `messaging-${config.stage}-ws`,
      description: `Order and support messaging (${config.stage}): real-time delivery`,
      routeSelectionExpression,
    });

    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy,
    });
    this.stage = new apigw.WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: config.stage,
      autoDeploy: true,
      throttle: { burstLimit: webSocketThrottling.burst, rateLimit: webSocketThrottling.rate },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            connectionId: '$context.connectionId',
            eventType: '$context.eventType',
            routeKey: '$context.routeKey',
            status: '$context.status',
            sub: '$context.authorizer.principalId',
            error: '$context.error.message',
            authorizerError: '$context.authorizer.error',
            integrationError: '$context.integration.error',
            integrationLatencyMs: '$context.integration.latency',
            ip: '$context.identity.sourceIp',
          }),
        ),
      },
    });
    this.connections = new ConnectionsBinding(this.stage);
    const bindings: Record<RouteBinding, FunctionBinding> = { ...props.bindings, connections: this.connections };

    this.authorizerFunction = new MessagingFunction(this, webSocketAuthorizer.id, {
      stage: config.stage,
      folder: 'ws',
      name: webSocketAuthorizer.id,
      description: 'ws $connect authorizer: verifies the Cognito access token',
      timeout: Duration.seconds(10),
      removalPolicy,
      bindings: [
        new EnvironmentBinding({
          AUTH_ISSUER: `https://cognito-idp.${this.region}.amazonaws.com/${props.userPool.userPoolId}`,
          AUTH_CLIENT_IDS: props.appClient.userPoolClientId,
        }),
      ],
    });
    this.functions.set(webSocketAuthorizer.id, this.authorizerFunction);
    const authorizer = new WebSocketLambdaAuthorizer('Authorizer', this.authorizerFunction, {
      authorizerName: webSocketAuthorizer.id,
      identitySource: [webSocketAuthorizer.identitySource],
    });

    if (!webSocketRouteList.some((route) => route.routeKey === '$connect'))
      throw new Error('The WebSocket route table has no $connect route: nothing would check the token');
    for (const route of webSocketRouteList) {
      const fn = new MessagingFunction(this, route.id, {
        stage: config.stage,
        folder: 'ws',
        name: route.id,
        description: `ws ${route.routeKey}`,
        timeout: Duration.seconds(25),
        removalPolicy,
        bindings: route.bindings.map((name) => bindings[name]),
      });
      this.functions.set(route.id, fn);
      const created = this.api.addRoute(route.routeKey, {
        integration: new WebSocketLambdaIntegration(`${route.id}-integration`, fn),
        authorizer: route.routeKey === '$connect' ? authorizer : undefined,
        returnResponse: route.returnResponse,
      });
      this.routes.set(route.routeKey, created);
      // Deploy the stage once every route exists.
      this.stage.node.addDependency(created);
    }

    new CfnOutput(this, 'WebSocketUrl', { value: this.stage.url });
    new CfnOutput(this, 'WebSocketManagementEndpoint', { value: this.stage.callbackUrl });
  }
}
