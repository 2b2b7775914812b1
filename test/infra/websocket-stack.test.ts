import { beforeAll, describe, expect, it } from 'vitest';
import { eventRuleList } from '../../lib/events/order-events';
import { routeList } from '../../lib/http/routes';
import { buildApp } from '../../lib/infra/app';
import { webSocketIntegrationErrorThreshold } from '../../lib/infra/stacks/observability-stack';
import { webSocketThrottling } from '../../lib/infra/stage-config';
import {
  routeSelectionExpression,
  webSocketAuthorizer,
  webSocketRouteList,
  webSocketRoutes,
} from '../../lib/realtime/routes';
import {
  alarms,
  type Synthesized as Built,
  lambdaAlarms,
  noBundling,
  prodContext,
  type Resource,
  synthesize,
} from './synth';

/**
 * The WebSocket API, its routes from the route table, the `$connect` authorizer, the connections
 * binding (who may PostToConnection, and where), the stage and its alarms. Built without bundling
 * (`aws:cdk:bundling-stacks` empty): nothing here depends on the Lambda code.
 */
const build = (context: Record<string, unknown>) => synthesize(context, { stack: 'webSocket' });

let dev: Built;
let prod: Built;
beforeAll(() => {
  dev = build({ stage: 'dev' });
  prod = build(prodContext);
}, 120_000);

const ofType = (resources: Record<string, Resource>, type: string) =>
  Object.entries(resources).filter(([, r]) => r.Type === type);
const all = (b: Built) => Object.values(b.templates).flatMap((resources) => Object.entries(resources));
const json = (value: unknown) => JSON.stringify(value);
/** The logical id of the function of this name, in the stack that holds it. */
const fnId = (resources: Record<string, Resource>, name: string) =>
  ofType(resources, 'AWS::Lambda::Function').find(([, r]) => r.Properties.FunctionName === name)?.[0];

describe('the WebSocket API from the route table', () => {
  it('is a WebSocket API of its own stack, routing on the frame’s action', () => {
    const ws = dev.templates.webSocket;
    const apis = ofType(ws, 'AWS::ApiGatewayV2::Api');
    expect(apis).toHaveLength(1);
    expect(apis[0]![1].Properties).toMatchObject({
      Name: 'messaging-dev-ws',
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
    expect(routeSelectionExpression).toBe('$request.body.action');
    // The HTTP API stays where it was, alone in its stack.
    expect(ofType(dev.templates.httpApi, 'AWS::ApiGatewayV2::Api').map(([, r]) => r.Properties.ProtocolType)).toEqual([
      'HTTP',
    ]);
    expect(dev.stacks.webSocket.stackName).toBe('Messaging-dev-WebSocket');
  });

  it('makes one route and one Lambda per entry, the route integrated with that entry’s Lambda', () => {
    const ws = dev.templates.webSocket;
    const routes = ofType(ws, 'AWS::ApiGatewayV2::Route');
    expect(routes.map(([, r]) => r.Properties.RouteKey).sort()).toEqual(
      ['$connect', '$disconnect', '$default', 'typing', 'ping'].sort(),
    );
    expect(routes).toHaveLength(webSocketRouteList.length);
    for (const entry of webSocketRouteList) {
      const [, route] = routes.find(([, r]) => r.Properties.RouteKey === entry.routeKey)!;
      const integrationId = route.Properties.Target['Fn::Join'][1][1].Ref as string;
      const integration = ws[integrationId]!;
      expect(integration.Properties.IntegrationType).toBe('AWS_PROXY');
      const fn = fnId(ws, `messaging-dev-${entry.id}`);
      expect(fn, entry.id).toBeDefined();
      expect(json(integration.Properties.IntegrationUri)).toContain(`"Fn::GetAtt":["${fn}","Arn"]`);
    }
    const names = ofType(ws, 'AWS::Lambda::Function')
      .map(([, r]) => r.Properties.FunctionName)
      .sort();
    expect(names).toEqual(
      ['ws-authorize', 'ws-connect', 'ws-default', 'ws-disconnect', 'ws-ping', 'ws-typing'].map(
        (n) => `messaging-dev-${n}`,
      ),
    );
    for (const [, fn] of ofType(ws, 'AWS::Lambda::Function'))
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
      });
  });

  it('puts $connect behind the Lambda REQUEST authorizer reading the token from the query string', () => {
    const ws = dev.templates.webSocket;
    const authorizers = ofType(ws, 'AWS::ApiGatewayV2::Authorizer');
    expect(authorizers).toHaveLength(1);
    const [authorizerId, authorizer] = authorizers[0]!;
    expect(authorizer.Properties).toMatchObject({
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.token'],
      Name: 'ws-authorize',
    });
    expect(webSocketAuthorizer.identitySource).toBe('route.request.querystring.token');
    expect(json(authorizer.Properties.AuthorizerUri)).toContain(
      `"Fn::GetAtt":["${fnId(ws, 'messaging-dev-ws-authorize')}","Arn"]`,
    );
    for (const [, route] of ofType(ws, 'AWS::ApiGatewayV2::Route')) {
      if (route.Properties.RouteKey === '$connect')
        expect(route.Properties).toMatchObject({ AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: authorizerId } });
      else {
        expect(route.Properties.AuthorizationType, route.Properties.RouteKey).toBe('NONE');
        expect(route.Properties.AuthorizerId).toBeUndefined();
      }
    }
    // API Gateway may invoke the authorizer, for this authorizer only.
    const permission = ofType(ws, 'AWS::Lambda::Permission').find(([, p]) =>
      json(p.Properties.FunctionName).includes(fnId(ws, 'messaging-dev-ws-authorize')!),
    )!;
    expect(permission[1].Properties.Principal).toBe('apigateway.amazonaws.com');
    expect(json(permission[1].Properties.SourceArn)).toContain(`/authorizers/`);
  });

  it('gives the authorizer the user pool’s issuer and the app client, and nothing of the database', () => {
    const ws = dev.templates.webSocket;
    const [, fn] = ofType(ws, 'AWS::Lambda::Function').find(
      ([, r]) => r.Properties.FunctionName === 'messaging-dev-ws-authorize',
    )!;
    const env = fn.Properties.Environment.Variables;
    expect(Object.keys(env).sort()).toEqual(['AUTH_CLIENT_IDS', 'AUTH_ISSUER', 'LOG_LEVEL', 'NODE_OPTIONS', 'STAGE']);
    const issuer = env.AUTH_ISSUER['Fn::Join'][1] as unknown[];
    expect(issuer.slice(0, 3)).toEqual(['https://cognito-idp.', { Ref: 'AWS::Region' }, '.amazonaws.com/']);
    const pool = ofType(dev.templates.auth, 'AWS::Cognito::UserPool')[0]![0];
    const client = ofType(dev.templates.auth, 'AWS::Cognito::UserPoolClient')[0]![0];
    expect(json(issuer[3])).toContain('Messaging-dev-Auth');
    expect(json(issuer[3])).toContain(pool);
    expect(json(env.AUTH_CLIENT_IDS)).toContain(client);
    // prod: the region is known, the issuer a plain URL but for the pool id.
    const [, prodFn] = ofType(prod.templates.webSocket, 'AWS::Lambda::Function').find(
      ([, r]) => r.Properties.FunctionName === 'messaging-prod-ws-authorize',
    )!;
    expect(prodFn.Properties.Environment.Variables.AUTH_ISSUER['Fn::Join'][1][0]).toBe(
      'https://cognito-idp.eu-west-1.amazonaws.com/',
    );
  });

  it('sends the Lambda’s return body back on the two-way routes (returnResponse) and on no other', () => {
    const ws = dev.templates.webSocket;
    const routes = ofType(ws, 'AWS::ApiGatewayV2::Route');
    const responses = ofType(ws, 'AWS::ApiGatewayV2::RouteResponse');
    const twoWay = webSocketRouteList.filter((r) => r.returnResponse).map((r) => r.routeKey);
    expect(twoWay.sort()).toEqual(['$default', 'ping', 'typing']);
    const withResponse = responses.map(([, rr]) => {
      expect(rr.Properties.RouteResponseKey).toBe('$default');
      return ws[rr.Properties.RouteId.Ref]!.Properties.RouteKey as string;
    });
    expect(withResponse.sort()).toEqual(twoWay.sort());
    for (const [, route] of routes) {
      const expected = twoWay.includes(route.Properties.RouteKey) ? '$default' : undefined;
      expect(route.Properties.RouteResponseSelectionExpression, route.Properties.RouteKey).toBe(expected);
    }
  });
});

describe('the connections binding: PostToConnection for the functions that push, on this stage only', () => {
  /** Function name → the ManageConnections statements of its role's policies. */
  const manageConnections = (b: Built) => {
    const granted = new Map<string, any[]>();
    for (const resources of Object.values(b.templates)) {
      for (const [, policy] of ofType(resources, 'AWS::IAM::Policy')) {
        const statements = (policy.Properties.PolicyDocument.Statement as any[]).filter((s) =>
          [s.Action].flat().some((a: string) => a.startsWith('execute-api:')),
        );
        if (!statements.length) continue;
        for (const role of policy.Properties.Roles as { Ref: string }[]) {
          const [, fn] = ofType(resources, 'AWS::Lambda::Function').find(
            ([, f]) => json(f.Properties.Role) === json({ 'Fn::GetAtt': [role.Ref, 'Arn'] }),
          )!;
          granted.set(fn.Properties.FunctionName, [...(granted.get(fn.Properties.FunctionName) ?? []), ...statements]);
        }
      }
    }
    return granted;
  };
  const expectedPushers = (stage: string) =>
    [
      ...routeList.filter((r) => r.bindings.includes('connections')).map((r) => r.id),
      ...webSocketRouteList.filter((r) => r.bindings.includes('connections')).map((r) => r.id),
      ...eventRuleList.map((r) => r.id),
    ]
      .map((n) => `messaging-${stage}-${n}`)
      .sort();

  it('is granted to exactly the functions bound to it, and to no other', () => {
    const granted = manageConnections(dev);
    expect([...granted.keys()].sort()).toEqual(expectedPushers('dev'));
    // The table says who pushes: the writes and typing; not reads, not the connection lifecycle.
    expect(expectedPushers('dev')).toEqual(
      expect.arrayContaining([
        'messaging-dev-send-message',
        'messaging-dev-create-conversation',
        'messaging-dev-ws-typing',
        'messaging-dev-on-order-created',
      ]),
    );
    for (const unbound of [
      'list-conversations',
      'list-messages',
      'ws-connect',
      'ws-disconnect',
      'ws-ping',
      'ws-default',
      'ws-authorize',
      'migrate',
      'post-confirmation',
    ])
      expect(granted.has(`messaging-dev-${unbound}`), unbound).toBe(false);
    expect(webSocketRoutes.typing.bindings).toContain('connections');
    expect([...manageConnections(prod).keys()].sort()).toEqual(expectedPushers('prod'));
  });

  it('allows POST on @connections of this API’s stage, nothing wider', () => {
    const wsApi = ofType(dev.templates.webSocket, 'AWS::ApiGatewayV2::Api')[0]![0];
    for (const [name, statements] of manageConnections(dev)) {
      expect(statements, name).toHaveLength(1);
      const [statement] = statements;
      expect(statement.Effect).toBe('Allow');
      expect(statement.Action).toBe('execute-api:ManageConnections');
      const parts = statement.Resource['Fn::Join'][1] as unknown[];
      expect(parts[0]).toBe('arn:');
      expect(parts.at(-1), name).toBe('/dev/POST/@connections/*');
      const api = json(parts.at(-2));
      if (name === 'messaging-dev-ws-typing') expect(api).toBe(json({ Ref: wsApi }));
      else {
        // Another stack names the API through the WebSocket stack's output of the same Ref.
        expect(api, name).toContain('"StackName":"Messaging-dev-WebSocket"');
        expect(api, name).toContain(`PublishOutputRef${wsApi}`);
      }
    }
    // prod: every part known but the API id.
    for (const [name, [statement]] of manageConnections(prod)) {
      const parts = statement.Resource['Fn::Join'][1] as unknown[];
      expect(parts[0], name).toBe('arn:aws:execute-api:eu-west-1:111111111111:');
      expect(parts.at(-1), name).toBe('/prod/POST/@connections/*');
      expect(parts).toHaveLength(3);
    }
  });

  it('hands the same functions the management endpoint of this stage, and no one else', () => {
    const withEndpoint = all(dev)
      .filter(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables)
      .filter(([, r]) => 'WEBSOCKET_MANAGEMENT_ENDPOINT' in r.Properties.Environment.Variables);
    expect(withEndpoint.map(([, r]) => r.Properties.FunctionName).sort()).toEqual(expectedPushers('dev'));
    for (const [, fn] of withEndpoint) {
      const parts = fn.Properties.Environment.Variables.WEBSOCKET_MANAGEMENT_ENDPOINT['Fn::Join'][1] as unknown[];
      expect(parts[0]).toBe('https://');
      expect(parts.at(-1)).toBe('/dev');
      expect(json(parts)).toContain('.execute-api.');
    }
  });

  it('acknowledges cdk-nag\u2019s finding on @connections/* for the bound functions alone, by its exact resource', () => {
    const unacknowledged = buildApp({ context: { ...noBundling, stage: 'dev' } }, { env: {}, acknowledge: false });
    let report = '';
    try {
      unacknowledged.synth();
    } catch (error) {
      report = String((error as Error).message);
    }
    // Without the acknowledgements each bound function's policy is reported once, for that resource.
    const findings = report.match(/AwsSolutions-IAM5\[Resource::[^\]]*\/dev\/POST\/@connections\/\*\]/g) ?? [];
    expect(findings).toHaveLength(expectedPushers('dev').length);
    expect(report).toContain('AwsSolutions-APIG4');
    // With them, the pushers' policies carry the acknowledgement of that finding and of no other IAM5 one
    // (dev is that app, synthesised).
    const send = dev.stacks.httpApi.functions.get('send-message')!;
    const policy = send.role!.node.findChild('DefaultPolicy').node.defaultChild!;
    const ids = policy.node.metadata
      .filter((m) => m.type === 'aws:cdk:acknowledged-rules')
      .flatMap((m) => Object.keys(m.data as object));
    expect(ids).toHaveLength(1);
    expect(ids[0]).toMatch(/AwsSolutions-IAM5\[Resource::arn:.*\/dev\/POST\/@connections\/\*\]$/);
    const list = dev.stacks.httpApi.functions.get('list-conversations')!;
    const listPolicy = list.role!.node.findChild('DefaultPolicy').node.defaultChild!;
    expect(listPolicy.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules')).toEqual([]);
  });

  it('orders the stacks: the WebSocket stack after Data and Auth, the pushers and Observability after it', () => {
    expect(dev.dependencies('Messaging-dev-WebSocket')).toEqual(
      expect.arrayContaining(['Messaging-dev-Data', 'Messaging-dev-Auth']),
    );
    for (const after of ['Messaging-dev-HttpApi', 'Messaging-dev-Events', 'Messaging-dev-Observability'])
      expect(dev.dependencies(after), after).toContain('Messaging-dev-WebSocket');
    // No cycle: the WebSocket stack references neither the HTTP API nor the order events.
    expect(dev.dependencies('Messaging-dev-WebSocket')).not.toContain('Messaging-dev-HttpApi');
    expect(dev.dependencies('Messaging-dev-WebSocket')).not.toContain('Messaging-dev-Events');
    expect(json(dev.templates.webSocket)).not.toMatch(/Messaging-dev-(HttpApi|Events|Observability)/);
  });
});

describe('the stage', () => {
  it('is named by the stage, deploys itself after every route, throttles and writes access logs', () => {
    for (const b of [dev, prod]) {
      const ws = b.templates.webSocket;
      const stages = ofType(ws, 'AWS::ApiGatewayV2::Stage');
      expect(stages).toHaveLength(1);
      const [, stage] = stages[0]!;
      expect(stage.Properties).toMatchObject({ StageName: b.stage, AutoDeploy: true });
      expect(stage.Properties.DefaultRouteSettings).toEqual({ ThrottlingBurstLimit: 1000, ThrottlingRateLimit: 500 });
      expect(webSocketThrottling).toEqual({ burst: 1000, rate: 500 });
      for (const [routeId] of ofType(ws, 'AWS::ApiGatewayV2::Route')) expect(stage.DependsOn).toContain(routeId);

      const logGroupId = stage.Properties.AccessLogSettings.DestinationArn['Fn::GetAtt'][0];
      expect(ws[logGroupId]!.Type).toBe('AWS::Logs::LogGroup');
      expect(ws[logGroupId]!.Properties.RetentionInDays).toBe(30);
      expect(ws[logGroupId]!.DeletionPolicy).toBe(b.stage === 'prod' ? 'Retain' : 'Delete');
      const format = JSON.parse(stage.Properties.AccessLogSettings.Format);
      expect(format).toMatchObject({
        requestId: '$context.requestId',
        connectionId: '$context.connectionId',
        eventType: '$context.eventType',
        routeKey: '$context.routeKey',
        status: '$context.status',
        integrationError: '$context.integration.error',
        authorizerError: '$context.authorizer.error',
      });
    }
  });

  it('outputs the wss:// URL of the stage', () => {
    const url = dev.outputs.WebSocketUrl.Value['Fn::Join'][1] as unknown[];
    const api = ofType(dev.templates.webSocket, 'AWS::ApiGatewayV2::Api')[0]![0];
    expect(url).toEqual([
      'wss://',
      { Ref: api },
      '.execute-api.',
      { Ref: 'AWS::Region' },
      '.',
      { Ref: 'AWS::URLSuffix' },
      '/dev',
    ]);
    expect(json(prod.outputs.WebSocketUrl.Value)).toContain('.execute-api.eu-west-1.');
    expect(json(prod.outputs.WebSocketUrl.Value)).toMatch(/\/prod"\]\]\}$/);
  });
});

describe('alarms and dashboard', () => {
  it('alarms on the stage’s execution and integration errors, to the alarm topic', () => {
    const topic = ofType(dev.templates.observability, 'AWS::SNS::Topic')[0]![0];
    const wsApi = ofType(dev.templates.webSocket, 'AWS::ApiGatewayV2::Api')[0]![0];
    const on = (metric: string) =>
      alarms(dev).filter((a) => a.Namespace === 'AWS/ApiGateway' && a.MetricName === metric);
    for (const [metric, name, threshold] of [
      ['ExecutionError', 'messaging-dev-ws-execution-errors', 0],
      ['IntegrationError', 'messaging-dev-ws-integration-errors', webSocketIntegrationErrorThreshold],
    ] as const) {
      const found = on(metric);
      expect(found, metric).toHaveLength(1);
      const [alarm] = found;
      expect(alarm).toMatchObject({
        AlarmName: name,
        Statistic: 'Sum',
        Period: 300,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [{ Ref: topic }],
      });
      const dimensions = Object.fromEntries(alarm.Dimensions.map((d: any) => [d.Name, d.Value]));
      expect(Object.keys(dimensions).sort()).toEqual(['ApiId', 'Stage']);
      expect(dimensions.Stage).toBe('dev');
      expect(json(dimensions.ApiId)).toContain(wsApi);
    }
    expect(webSocketIntegrationErrorThreshold).toBe(10);
  });

  it('alarms on errors and throttles of every new function', () => {
    for (const name of [...webSocketRouteList.map((r) => r.id), webSocketAuthorizer.id]) {
      for (const metric of ['Errors', 'Throttles'])
        expect(lambdaAlarms(dev, name, metric), `${metric} ${name}`).toHaveLength(1);
    }
  });

  it('shows the WebSocket API’s connects, messages, errors and integration latency', () => {
    const [, dashboard] = ofType(dev.templates.observability, 'AWS::CloudWatch::Dashboard')[0]!;
    const body = json(dashboard.Properties.DashboardBody);
    for (const metric of ['ConnectCount', 'MessageCount', 'ClientError', 'IntegrationError', 'ExecutionError'])
      expect(body, metric).toContain(`\\"${metric}\\"`);
    expect(body).toContain('IntegrationLatency p95');
  });
});
