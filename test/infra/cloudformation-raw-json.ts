/**
 * The properties of the resource types we synthesise whose value CloudFormation takes as raw JSON
 * ("format": "json", or an object without declared properties, in the CloudFormation resource
 * provider schemas as cfn-lint 1.51 ships them). CDK passes such values through unconverted, so a
 * misspelt key is neither a TypeScript error nor a synth error nor a cfn-lint finding: it is
 * silently ignored at deploy time, as `throttlingBurstLimit` in RouteSettings was.
 * When a new resource type appears, look its raw-JSON properties up in the same schemas; the test
 * fails when a template uses a raw-JSON property that is not listed here with a checker.
 */
export const rawJsonProperties: Record<string, string[]> = {
  'AWS::ApiGatewayV2::Api': ['Body'],
  'AWS::ApiGatewayV2::Route': ['RequestModels', 'RequestParameters'],
  'AWS::ApiGatewayV2::RouteResponse': ['ResponseModels', 'ResponseParameters'],
  'AWS::ApiGatewayV2::Stage': ['RouteSettings', 'StageVariables'],
  'AWS::Events::EventBus': ['Policy'],
  'AWS::Events::Rule': ['EventPattern'],
  'AWS::IAM::Policy': ['PolicyDocument'],
  'AWS::IAM::Role': ['AssumeRolePolicyDocument'],
  'AWS::KMS::Key': ['KeyPolicy'],
  'AWS::Logs::LogGroup': ['DataProtectionPolicy', 'ResourcePolicyDocument'],
  'AWS::S3::BucketPolicy': ['PolicyDocument'],
  'AWS::SNS::Topic': ['ArchivePolicy', 'DataProtectionPolicy'],
  'AWS::SNS::TopicPolicy': ['PolicyDocument'],
  'AWS::SQS::Queue': ['RedriveAllowPolicy'],
  'AWS::SQS::QueuePolicy': ['PolicyDocument'],
};

/**
 * AWS::ApiGatewayV2::Stage's `RouteSettings` is a map of route key to an object of the schema's
 * `RouteSettings` definition (the same definition DefaultRouteSettings uses).
 */
export const stageRouteSettingsProperties = [
  'DataTraceEnabled',
  'DetailedMetricsEnabled',
  'LoggingLevel',
  'ThrottlingBurstLimit',
  'ThrottlingRateLimit',
];

/** IAM policy grammar: the top-level and statement elements. */
export const policyDocumentProperties = ['Version', 'Id', 'Statement'];
export const policyStatementProperties = [
  'Sid',
  'Effect',
  'Principal',
  'NotPrincipal',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
];

/** The top-level fields of an EventBridge event that a pattern may match. */
export const eventPatternFields = [
  'version',
  'id',
  'detail-type',
  'source',
  'account',
  'time',
  'region',
  'resources',
  'detail',
];
