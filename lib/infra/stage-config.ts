/**
 * What differs between stages, read from CDK context (`cdk deploy -c stage=prod -c orderBusName=orders`).
 * Nothing here reaches AWS at synth time: synth stays offline.
 */
export interface StageConfig {
  stage: 'dev' | 'prod';
  /** The order service's bus (imported by name); dev without one gets a bus of its own. */
  orderBusName?: string;
  orderEventSource: string;
  corsOrigins: string[];
  alarmEmail?: string;
  sendRateLimit: number;
  sendRateWindowSeconds: number;
  /** prod keeps data (deletion protection, snapshots, retained secrets); dev tears down cleanly. */
  keepData: boolean;
  /** Aurora Serverless v2 capacity in ACUs; 0 lets an idle dev cluster pause. */
  minCapacity: number;
  maxCapacity: number;
}

type Context = (key: string) => unknown;

export function stageConfig(context: Context): StageConfig {
  const stage = String(context('stage') ?? 'dev');
  if (stage !== 'dev' && stage !== 'prod') throw new Error(`stage must be dev or prod, got ${stage}`);
  const prod = stage === 'prod';
  const list = (value: unknown) =>
    (Array.isArray(value) ? value.map(String) : String(value ?? '').split(','))
      .map((s) => s.trim())
      .filter(Boolean);
  const orderBusName = context('orderBusName') ? String(context('orderBusName')) : undefined;
  if (prod && !orderBusName) throw new Error('prod needs -c orderBusName=<the order service event bus>');
  return {
    stage,
    orderBusName,
    orderEventSource: String(context('orderEventSource') ?? 'order-service'),
    corsOrigins: list(context('corsOrigins') ?? (prod ? '' : 'http://localhost:3000')),
    alarmEmail: context('alarmEmail') ? String(context('alarmEmail')) : undefined,
    sendRateLimit: Number(context('sendRateLimit') ?? 20),
    sendRateWindowSeconds: Number(context('sendRateWindowSeconds') ?? 10),
    keepData: prod,
    minCapacity: prod ? 0.5 : 0,
    maxCapacity: prod ? 16 : 2,
  };
}
