import { Stack, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { MessagingFunction } from './messaging-function';
import { attachmentKeyPrefix } from './names';
import { AttachmentsStack } from './stacks/attachments-stack';
import { AuthStack } from './stacks/auth-stack';
import { DataStack } from './stacks/data-stack';
import { EventsStack } from './stacks/events-stack';
import { HttpApiStack } from './stacks/http-api-stack';
import { NotificationsStack } from './stacks/notifications-stack';
import { WebSocketStack } from './stacks/websocket-stack';
import type { StageConfig } from './stage-config';

/**
 * Every cdk-nag finding we accept, each with its reason. Anything not acknowledged here fails
 * synth and the infrastructure tests.
 */
export function acknowledgeNagFindings(stack: Stack, config: StageConfig): void {
  if (stack instanceof DataStack) {
    Validations.of(stack.cluster).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        'The master secret is used by the migration alone; rotation needs a rotation Lambda with network access to the isolated cluster, and the Data API reads the secret per call, so it can be enabled later without code changes (roadmap).',
    });
    Validations.of(stack.appDatabaseSecret).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        "The application role's password is set on the role by the migration at every deploy (README runbook: rotate = new secret value + invoke the migrate function); scheduled rotation needs a rotation Lambda in the isolated VPC (roadmap).",
    });
    if (!config.keepData) {
      Validations.of(stack.cluster).acknowledge({
        id: 'AwsSolutions::AwsSolutions-RDS10',
        reason: 'dev stacks tear down cleanly; prod enables deletion protection (stage=prod).',
      });
    }
  }
  if (stack instanceof AuthStack) {
    Validations.of(stack.userPool).acknowledge({
      id: 'AwsSolutions::AwsSolutions-COG2',
      reason: 'Marketplace customers sign in without MFA; TOTP MFA is offered (optional) and can be required per app.',
    });
    Validations.of(stack.userPool).acknowledge({
      id: 'AwsSolutions::AwsSolutions-COG8',
      reason:
        'The Plus feature plan is a per-user cost decision for the business; Essentials with a strong password policy is the baseline.',
    });
  }
  if (stack instanceof EventsStack) {
    for (const queue of [stack.deliveryFailures, stack.processingFailures]) {
      Validations.of(queue).acknowledge({
        id: 'AwsSolutions::AwsSolutions-SQS3',
        reason:
          'This queue is itself the dead-letter queue / on-failure destination for order events; it is alarmed on depth and drained by npm run redrive.',
      });
    }
  }
  if (stack instanceof AttachmentsStack) {
    Validations.of(stack.checkFailures).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason:
        "This queue is itself the check function's on-failure destination (upload notifications it failed on after its retries); it is alarmed on depth.",
    });
    Validations.of(stack.sweepFailures).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason:
        "This queue is itself the sweep schedule's dead-letter queue (runs EventBridge Scheduler could not deliver); it is alarmed on depth.",
    });
    // Every function bound to the bucket, whichever stack it is in.
    for (const binding of stack.bindings)
      for (const fn of binding.bound)
        acknowledgeResourceWildcard(fn, {
          actions: binding.actions,
          resourceSuffix: `/${attachmentKeyPrefix}*`,
          reason: attachmentObjectsReason,
        });
  }

  if (stack instanceof HttpApiStack) {
    for (const [id, route] of stack.publicRoutes) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions::AwsSolutions-APIG4',
        reason:
          id === 'unsubscribe-page'
            ? `${id} is public on purpose: it is the email footer's link, opened in a browser without a Cognito session. It reads nothing and changes nothing (a static page whose one form posts to the one-click route, no script), and has its own tight throttle.`
            : `${id} is public on purpose: the one-click unsubscribe (RFC 8058) is POSTed by the recipient's mail provider, which holds no Cognito token. The function verifies the link's own token (an HMAC under the unsubscribe key, naming the user) and answers 403 without changing anything when it is not valid; the route has its own tight throttle.`,
      });
    }
  }
  if (stack instanceof NotificationsStack) {
    Validations.of(stack.unsubscribeKey).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        "The unsubscribe key signs links already in recipients' mailboxes: rotating it would break every unsubscribe link sent before. It never leaves AWS (read by the digest function and the unsubscribe route alone); replacing it by hand is in the runbook.",
    });
    const queueRoles: [sqs.IQueue, string][] = [
      [
        stack.scheduleFailures,
        "the digest and relay schedules' dead-letter queue (runs EventBridge Scheduler could not deliver)",
      ],
      [stack.relayFailures, "the outbox relay's on-failure destination (failed runs; the events stay in the outbox)"],
      [stack.feedbackDeliveryFailures, "the email feedback rule target's dead-letter queue"],
      [stack.feedbackProcessingFailures, "the email feedback function's on-failure destination"],
    ];
    for (const [queue, role] of queueRoles) {
      Validations.of(queue).acknowledge({
        id: 'AwsSolutions::AwsSolutions-SQS3',
        reason: `This queue is itself ${role}; it is alarmed on depth.`,
      });
    }
  }

  if (stack instanceof WebSocketStack) {
    for (const [routeKey, route] of stack.routes) {
      if (routeKey === '$connect') continue;
      Validations.of(route).acknowledge({
        id: 'AwsSolutions::AwsSolutions-APIG4',
        reason: `A WebSocket API authorizes on $connect only (its Lambda authorizer verifies the Cognito token); API Gateway runs ${routeKey} only on a connection $connect accepted, and the handler acts as the user recorded for that connection.`,
      });
    }
    // Every function bound to the connections, whichever stack it is in.
    for (const fn of stack.connections.bound)
      acknowledgeResourceWildcard(fn, {
        actions: ['execute-api:ManageConnections'],
        resourceSuffix: '/POST/@connections/*',
        reason: connectionsReason,
      });
  }
}

const connectionsReason =
  "PostToConnection names the connection in the path (@connections/{connectionId}), and connection ids are made by API Gateway at run time: the grant is POST on this API's one stage, any connection.";

const attachmentObjectsReason =
  "Attachment objects are keyed attachments/<conversationId>/<attachmentId>, ids made at run time: the grant is this binding's one action set on the attachments bucket's attachments/ prefix, which holds nothing else; which object a caller may reach is decided by the function from the database.";

/**
 * A binding's wildcard resource (ConnectionsBinding's `@connections/*`, AttachmentsBinding's
 * `attachments/*`), acknowledged for exactly that resource on exactly the bound function's policy,
 * and only in statements of the binding's own actions. cdk-nag names the finding by the resource as
 * the template spells it, and in a stack other than the binding's that spelling can hold a
 * cross-stack reference CDK writes only while it synthesises: so the acknowledgement is made then
 * (a construct validation runs after references are resolved, before the validation plugins),
 * from the policy itself.
 */
function acknowledgeResourceWildcard(
  fn: MessagingFunction,
  grant: { actions: readonly string[]; resourceSuffix: string; reason: string },
): void {
  const policy = fn.role?.node.tryFindChild('DefaultPolicy')?.node.defaultChild as iam.CfnPolicy | undefined;
  if (!policy) throw new Error(`${fn.node.path}: no default policy to acknowledge the binding's grant on`);
  policy.node.addValidation({
    validate: () => {
      const document = Stack.of(policy).resolve(policy.policyDocument) as { Statement: PolicyStatementJson[] };
      for (const statement of document.Statement) {
        if (!asList(statement.Action).some((action) => grant.actions.includes(action))) continue;
        for (const resource of asList(statement.Resource).map(flattenReference)) {
          if (!resource.endsWith(grant.resourceSuffix)) continue;
          Validations.of(policy).acknowledge({
            id: `AwsSolutions::AwsSolutions-IAM5[Resource::${resource}]`,
            reason: grant.reason,
          });
        }
      }
      return [];
    },
  });
}

interface PolicyStatementJson {
  Action?: string | string[];
  Resource?: unknown;
}

const asList = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** A resolved resource as cdk-nag names it in a finding (its flattenCfnReference). */
function flattenReference(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  const value = node as Record<string, unknown>;
  if (value['Fn::Join']) {
    const [delimiter, items] = value['Fn::Join'] as [string, unknown[]];
    return items.map(flattenReference).join(delimiter);
  }
  if (value['Fn::Sub']) return flattenReference(value['Fn::Sub']);
  if (value['Fn::GetAtt']) {
    const [resource, attribute] = value['Fn::GetAtt'] as [unknown, unknown];
    return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
  }
  if (value['Fn::ImportValue']) return flattenReference(value['Fn::ImportValue']);
  if (value.Ref) return `<${flattenReference(value.Ref)}>`;
  return JSON.stringify(node);
}
