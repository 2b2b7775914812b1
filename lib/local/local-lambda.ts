import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate, SesError } from './local-ses';

/**
 * Lambda's Invoke (REST-JSON `POST /2015-03-31/functions/{name}/invocations`) locally, for the real
 * `@aws-sdk/client-lambda`: what the writes use to invoke the outbox relay asynchronously, and
 * what `npm run signup` uses to run the Cognito trigger in the running stack. SigV4-checked (scope
 * `lambda`) as the SES endpoint checks it; `Event` invocations answer 202 and run after the
 * response (retried twice on failure, as Lambda retries asynchronous invocations),
 * `RequestResponse` ones answer the function's result, or its error with `X-Amz-Function-Error`.
 */
export interface LocalLambdaOptions {
  region: string;
  account?: string;
  /** accessKeyId → secretAccessKey. */
  credentials: Record<string, string>;
  /** The functions by name. */
  functions: Record<string, (payload: unknown) => Promise<unknown>>;
  now?: () => Date;
}

const PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
/** Lambda's payload limits: 6 MB synchronous, 1 MB asynchronous. */
const MAX_SYNC_BYTES = 6 * 1024 * 1024;
const MAX_ASYNC_BYTES = 1024 * 1024;

export class LocalLambda {
  private readonly pending = new Set<Promise<void>>();
  /** Invocations accepted so far, by function name: what the tests read to see which path ran. */
  readonly invocations = new Map<string, number>();

  constructor(private readonly options: LocalLambdaOptions) {}

  handles(req: IncomingMessage): boolean {
    return (req.url ?? '/').startsWith('/2015-03-31/functions/');
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const answer = (status: number, body: string, headers: Record<string, string> = {}): void => {
      res
        .writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': requestId, ...headers })
        .end(body);
    };
    const refuse = (status: number, code: string, message: string) =>
      answer(status, JSON.stringify({ Type: 'User', message }), { 'x-amzn-errortype': code });
    try {
      const body = await readBody(req);
      await authenticate(req, body, {
        region: this.options.region,
        credentials: this.options.credentials,
        now: (this.options.now ?? (() => new Date()))(),
        service: 'lambda',
      });
      const match = PATH.exec((req.url ?? '/').split('?')[0]!);
      if (!match || req.method !== 'POST') return refuse(404, 'UnknownOperationException', 'Only Invoke is emulated');
      // The name, a partial ARN or a full one: the function's name is the part after `function:`.
      const named = decodeURIComponent(match[1]!);
      const name = named.includes(':') ? (named.split(':function:')[1] ?? named).split(':')[0]! : named;
      const run = Object.hasOwn(this.options.functions, name) ? this.options.functions[name] : undefined;
      const arn = `arn:aws:lambda:${this.options.region}:${this.options.account ?? '000000000000'}:function:${name}`;
      if (!run) return refuse(404, 'ResourceNotFoundException', `Function not found: ${arn}`);
      const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
      let payload: unknown = {};
      try {
        payload = body.length ? JSON.parse(body.toString('utf8')) : {};
      } catch {
        return refuse(400, 'InvalidRequestContentException', 'Could not parse request body into json');
      }
      if (type === 'DryRun') return answer(204, '');
      this.invocations.set(name, (this.invocations.get(name) ?? 0) + 1);
      if (type === 'Event') {
        if (body.length > MAX_ASYNC_BYTES)
          return refuse(
            413,
            'RequestTooLargeException',
            'Request must be smaller than 1048576 bytes for the InvokeAsync operation',
          );
        this.runLater(name, () => run(payload));
        return answer(202, '');
      }
      if (type !== 'RequestResponse')
        return refuse(400, 'InvalidParameterValueException', `Unknown invocation type ${type}`);
      if (body.length > MAX_SYNC_BYTES)
        return refuse(
          413,
          'RequestTooLargeException',
          'Request must be smaller than 6291456 bytes for the Invoke operation',
        );
      try {
        const result = await run(payload);
        return answer(200, result === undefined ? 'null' : JSON.stringify(result), {
          'x-amz-executed-version': '$LATEST',
        });
      } catch (error) {
        const failure = error as Error;
        return answer(
          200,
          JSON.stringify({
            errorType: failure?.name ?? 'Error',
            errorMessage: failure?.message ?? String(error),
            trace: [],
          }),
          { 'x-amz-function-error': 'Unhandled', 'x-amz-executed-version': '$LATEST' },
        );
      }
    } catch (error) {
      // Lambda names a bad signature InvalidSignatureException where SES says SignatureDoesNotMatch.
      if (error instanceof SesError)
        return refuse(
          error.status,
          error.code === 'SignatureDoesNotMatch' ? 'InvalidSignatureException' : error.code,
          error.message,
        );
      throw error;
    }
  }

  /** Resolves when every asynchronous invocation so far has finished (or failed for good). */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  private runLater(name: string, run: () => Promise<unknown>) {
    const attempt = (async () => {
      await new Promise((resolve) => setImmediate(resolve));
      for (let tries = 1; tries <= 3; tries++) {
        try {
          await run();
          return;
        } catch (error) {
          if (tries === 3)
            console.error(
              JSON.stringify({
                level: 'error',
                message: 'asynchronous invocation failed',
                function: name,
                error: String(error),
              }),
            );
          else await new Promise((resolve) => setTimeout(resolve, 100 * tries));
        }
      }
    })();
    this.pending.add(attempt);
    void attempt.finally(() => this.pending.delete(attempt));
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SYNC_BYTES + 1)
      throw new SesError(413, 'RequestTooLargeException', 'Request must be smaller than 6291456 bytes');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
