import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { eventRuleList } from '../events/order-events';
import { routeList } from '../http/routes';
import { esbuildOptions, projectRoot } from '../infra/bundling';
import { webSocketAuthorizer, webSocketRouteList } from '../realtime/routes';

export interface LambdaFigures {
  name: string;
  bytes: number;
  /** Median over fresh `node` processes of the time to import the bundled handler, once node:http is loaded (as the Lambda runtime has). */
  coldInitMs: number;
  largestInputs: Array<{ module: string; bytes: number }>;
}

const everyFunction: Array<[string, string]> = [
  ...routeList.map((r) => ['http', r.id] as [string, string]),
  ...eventRuleList.map((r) => ['events', r.id] as [string, string]),
  ...webSocketRouteList.map((r) => ['ws', r.id] as [string, string]),
  ['ws', webSocketAuthorizer.id],
  ['ops', 'migrate'],
  ['cognito', 'post-confirmation'],
];

/** The environment a deployed function starts with: the Data API configured, nothing connected yet. */
export const lambdaEnv = {
  ...process.env,
  DB_CLUSTER_ARN: 'arn:aws:rds:us-east-1:123456789012:cluster:bench',
  DB_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:bench',
  DB_NAME: 'messaging',
  AWS_REGION: 'us-east-1',
  // What the WebSocket stack gives its functions: the pool's issuer and app client (the
  // authorizer refuses to load without them) and the management API to push through.
  AUTH_ISSUER: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench',
  AUTH_CLIENT_IDS: 'bench-client',
  WEBSOCKET_MANAGEMENT_ENDPOINT: 'https://bench.execute-api.us-east-1.amazonaws.com/dev',
  DATABASE_URL: '',
  NODE_OPTIONS: '',
};

/**
 * Builds every function, then times cold imports in rounds: each round imports every bundle once,
 * in the opposite order to the round before, so that every function's median is taken over the
 * same stretch of the host's speed. Timed one function after another instead (all of a function's
 * runs, then the next's), near-identical bundles had medians from 105 to 163 ms in one run.
 */
export async function measureLambdas(runs: number): Promise<LambdaFigures[]> {
  const built: Array<Omit<LambdaFigures, 'coldInitMs'> & { outfile: string; timings: number[] }> = [];
  for (const [folder, name] of everyFunction) {
    // Inside the project, so the runtime-provided modules (the AWS SDK) resolve from node_modules
    // as they do from the Lambda runtime.
    const dir = join(projectRoot, '.data', 'bench', 'bundles', `${folder}-${name}`);
    mkdirSync(dir, { recursive: true });
    const outfile = join(dir, 'index.mjs');
    const result = await build({ ...esbuildOptions(folder, name, outfile), metafile: true });
    const output = result.metafile.outputs[Object.keys(result.metafile.outputs).find((k) => k.endsWith('index.mjs'))!]!;
    const byModule = new Map<string, number>();
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const module = input
        .replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, '$1')
        .replace(/^(lib|functions|migrations)\/.*$/, '$1 (ours)');
      byModule.set(module, (byModule.get(module) ?? 0) + bytesInOutput);
    }
    built.push({
      name: `${folder}/${name}`,
      bytes: output.bytes,
      largestInputs: [...byModule]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([module, bytes]) => ({ module, bytes })),
      outfile,
      timings: [],
    });
  }
  for (let round = 0; round < runs; round++) {
    for (const bundle of round % 2 === 0 ? built : [...built].reverse()) {
      // What the Lambda runtime has loaded before it imports the handler is not the handler's to
      // pay: its Runtime API client loads node:http at the top of its module
      // (aws-lambda-nodejs-runtime-interface-client, src/client/rapid-client.ts). So it is loaded
      // first, untimed. In Node 24 node:http loads undici with it: 40–60 ms here, which the
      // figures before 2026-12-03 20:00 counted as the handler's.
      const script = `await import('node:http'); const t = performance.now(); await import(${JSON.stringify(pathToFileURL(bundle.outfile).href)}); process.stdout.write(String(performance.now() - t));`;
      bundle.timings.push(
        Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: lambdaEnv }).toString()),
      );
    }
  }
  return built.map(({ outfile: _, timings, ...figures }) => {
    const sorted = [...timings].sort((a, b) => a - b);
    return { ...figures, coldInitMs: sorted[Math.floor(sorted.length / 2)]! };
  });
}
