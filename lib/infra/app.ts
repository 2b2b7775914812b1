import { App, type AppProps, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DatabaseBinding, EnvironmentBinding, OutboxRelayBinding, UnsubscribeKeyBinding } from './messaging-function';
import { acknowledgeNagFindings } from './nag-acknowledgements';
import { attachmentFailureQueueNames, failureQueueNames, notificationFailureQueueNames } from './names';
import { AttachmentsStack } from './stacks/attachments-stack';
import { AuthStack } from './stacks/auth-stack';
import { DataStack, databaseName } from './stacks/data-stack';
import { EventsStack } from './stacks/events-stack';
import { HttpApiStack } from './stacks/http-api-stack';
import { NotificationsStack } from './stacks/notifications-stack';
import { ObservabilityStack } from './stacks/observability-stack';
import { WebSocketStack } from './stacks/websocket-stack';
import { type StageConfig, stageConfig } from './stage-config';

export interface MessagingStacks {
  data: DataStack;
  auth: AuthStack;
  attachments: AttachmentsStack;
  webSocket: WebSocketStack;
  httpApi: HttpApiStack;
  events: EventsStack;
  notifications: NotificationsStack;
  observability: ObservabilityStack;
}

/**
 * The app as `cdk synth` and the tests build it: one stack per concern for the stage, each
 * checked by cdk-nag. Later features get stacks of their own, bound to the database the same way.
 *
 * Order: Data (cluster, migration) → Auth, Attachments → WebSocket → HttpApi, Events →
 * Notifications (every consumer of the database) → Observability. Each consumer stack depends on
 * Data, so no function, route or rule exists or changes before the migration of the same deploy
 * has run. HttpApi and Events push to WebSocket connections (the `connections` binding names the
 * WebSocket API's stage), so they come after the WebSocket stack; it references nothing of theirs.
 * The attachment bindings name the bucket by its fixed name, not by reference, so whichever stack
 * holds a function bound to one (HttpApi) is made to deploy after the Attachments stack, which in
 * turn depends on nothing but Data.
 *
 * Notifications comes after HttpApi, because the digests link to the API's URL (a reference), and
 * after Events. The other way round, the writers of HttpApi and Events invoke the outbox relay and
 * the unsubscribe route reads the link key, both of Notifications: those bindings name the function
 * and the secret by their fixed names, so no reference runs back and no cycle forms. On the very
 * first deploy the writers exist a minute or two before the relay does: their nudges fail, which
 * they ignore, and the events wait in the outbox for the relay's schedule; no unsubscribe link
 * exists before the digest function, in the same stack as the key, has sent one.
 */
export function buildApp(
  props: AppProps = {},
  options: { acknowledge?: boolean; env?: NodeJS.ProcessEnv } = {},
): { app: App; config: StageConfig; stacks: MessagingStacks; synth(): void } {
  const app = new App(props);
  const config = stageConfig((key) => app.node.tryGetContext(key), options.env ?? process.env);
  const common = {
    env: { account: config.account, region: config.region },
    terminationProtection: config.terminationProtection,
  };
  const name = (concern: string) => `Messaging-${config.stage}-${concern}`;
  const description = (what: string) => `Order and support messaging (${config.stage}): ${what}`;

  const data = new DataStack(app, name('Data'), {
    ...common,
    config,
    description: description('database and migrations'),
  });
  // Runtime functions connect as the application role; only the migration holds the admin secret.
  const database = new DatabaseBinding({ clusterArn: data.cluster.clusterArn, secret: data.appSecret, databaseName });
  const auth = new AuthStack(app, name('Auth'), {
    ...common,
    config,
    description: description('Cognito'),
    // Cognito gives the trigger 5 s: do not wait 15 s for a resuming cluster.
    database: new DatabaseBinding(
      { clusterArn: data.cluster.clusterArn, secret: data.appSecret, databaseName },
      { resumeRetryMs: 2_000 },
    ),
  });
  const attachments = new AttachmentsStack(app, name('Attachments'), {
    ...common,
    config,
    description: description('attachments bucket, upload check and sweep'),
    database,
  });
  // Both name what they reach by its fixed name: the Notifications stack deploys after their users.
  const outboxRelay = new OutboxRelayBinding(config.stage);
  const unsubscribeKey = new UnsubscribeKeyBinding(config.stage);
  // What the route tables' binding names mean; `connections` is the WebSocket stack's.
  const routeBindings = {
    database,
    outboxRelay,
    unsubscribeKey,
    attachmentUploads: attachments.uploads,
    attachmentDownloads: attachments.downloads,
    attachmentRemoval: attachments.removal,
    sendRate: new EnvironmentBinding({
      SEND_RATE_LIMIT: config.sendRateLimit,
      SEND_RATE_WINDOW_SECONDS: config.sendRateWindowSeconds,
    }),
    conversationRate: new EnvironmentBinding({
      CREATE_CONVERSATION_RATE_LIMIT: config.createConversationRateLimit,
      CREATE_CONVERSATION_RATE_WINDOW_SECONDS: config.createConversationRateWindowSeconds,
    }),
    participantRate: new EnvironmentBinding({
      ADD_PARTICIPANT_RATE_LIMIT: config.addParticipantRateLimit,
      ADD_PARTICIPANT_RATE_WINDOW_SECONDS: config.addParticipantRateWindowSeconds,
    }),
  };
  const webSocket = new WebSocketStack(app, name('WebSocket'), {
    ...common,
    config,
    description: description('WebSocket API'),
    userPool: auth.userPool,
    appClient: auth.appClient,
    bindings: routeBindings,
  });
  const httpApi = new HttpApiStack(app, name('HttpApi'), {
    ...common,
    config,
    description: description('HTTP API'),
    userPool: auth.userPool,
    appClient: auth.appClient,
    bindings: { ...routeBindings, connections: webSocket.connections },
  });
  const events = new EventsStack(app, name('Events'), {
    ...common,
    config,
    description: description('order events'),
    database,
    orderEvents: new EnvironmentBinding({ ORDER_EVENT_SOURCE: config.orderEventSource }),
    // New order conversations and system messages reach the participants' sockets.
    connections: webSocket.connections,
    outboxRelay,
  });
  const notifications = new NotificationsStack(app, name('Notifications'), {
    ...common,
    config,
    description: description('email digests (SES), unsubscribe key, outbox relay'),
    database,
    unsubscribeKey,
    apiUrl: httpApi.api.apiEndpoint,
  });
  const observability = new ObservabilityStack(app, name('Observability'), {
    ...common,
    config,
    description: description('alarms and dashboard'),
    functions: [
      data.migrate,
      auth.postConfirmation,
      ...attachments.functions.values(),
      ...httpApi.functions.values(),
      ...webSocket.functions.values(),
      ...events.functions.values(),
      ...notifications.functions.values(),
    ],
    apiId: httpApi.api.apiId,
    webSocket: { apiId: webSocket.api.apiId, stage: webSocket.stage.stageName },
    clusterIdentifier: data.clusterIdentifier,
    failureQueues: [
      ...Object.values(failureQueueNames(config.stage)),
      ...Object.values(attachmentFailureQueueNames(config.stage)),
      ...Object.values(notificationFailureQueueNames(config.stage)),
    ],
  });

  for (const consumer of [auth, attachments, webSocket, httpApi, events, notifications])
    consumer.addStackDependency(data, 'consumers wait for the migration');
  const boundToAttachments = new Set(
    attachments.bindings.flatMap((binding) => binding.bound.map((fn) => Stack.of(fn))).filter((s) => s !== attachments),
  );
  for (const user of boundToAttachments)
    user.addStackDependency(attachments, 'its functions use the attachments bucket');
  webSocket.addStackDependency(auth);
  httpApi.addStackDependency(auth);
  for (const pusher of [httpApi, events]) pusher.addStackDependency(webSocket, 'pushes to its connections');
  notifications.addStackDependency(httpApi, 'the digests link to its URL');
  // Whoever invokes the relay or reads the link key by name is deployed first (see above).
  for (const user of [...outboxRelay.bound, ...unsubscribeKey.bound].map((fn) => Stack.of(fn)))
    if (user !== notifications) notifications.addStackDependency(user, 'its writers name the relay and the key');
  for (const watched of [data, auth, attachments, webSocket, httpApi, events, notifications])
    observability.addStackDependency(watched, 'alarms and dashboard watch what exists');

  const stacks: MessagingStacks = {
    data,
    auth,
    attachments,
    webSocket,
    httpApi,
    events,
    notifications,
    observability,
  };
  if (options.acknowledge !== false)
    for (const stack of Object.values(stacks) as Stack[]) acknowledgeNagFindings(stack, config);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, config, stacks, synth: () => void app.synth() };
}
