import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SourceData } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import { RequestSigner } from '../../lib/realtime/sigv4';

/**
 * The publisher's own SigV4 signer (lib/realtime/sigv4.ts) against the SDK's: for the requests the
 * pushing code makes, both must produce the same headers, signature included, or API Gateway and
 * Lambda would refuse every call in AWS while the local stack (which cannot check a signature)
 * took them.
 */
/** SHA-256 and HMAC-SHA256 as the SDK's signer wants them (what @smithy/hash-node does). */
class Sha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash =
      secret === undefined
        ? createHash('sha256')
        : createHmac('sha256', typeof secret === 'string' ? secret : new Uint8Array(secret as ArrayBuffer));
  }
  update(chunk: Uint8Array) {
    this.hash.update(chunk);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
  reset() {}
}

const cases = [
  {
    name: 'PostToConnection with static credentials',
    service: 'execute-api',
    region: 'eu-west-1',
    host: 'abc123.execute-api.eu-west-1.amazonaws.com',
    path: `/prod/@connections/${encodeURIComponent('L0SM9cOFvHcCIhw=')}`,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  },
  {
    name: "Lambda's Invoke with a session token (a Lambda role's credentials)",
    service: 'lambda',
    region: 'us-east-1',
    host: 'lambda.us-east-1.amazonaws.com',
    path: `/2015-03-31/functions/${encodeURIComponent('messaging-dev-ws-fan-out')}/invocations`,
    credentials: { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token/with+odd=chars' },
    headers: { 'x-amz-invocation-type': 'Event' },
  },
  {
    name: 'a local endpoint with a port',
    service: 'execute-api',
    region: 'us-east-1',
    host: '127.0.0.1:4300',
    path: `/ws/@connections/${encodeURIComponent('a+b/c=')}`,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  },
];

describe('RequestSigner', () => {
  for (const c of cases) {
    it(`signs ${c.name} exactly as @smithy/signature-v4 does`, async () => {
      const body = Buffer.from(JSON.stringify({ type: 'message.created', data: { content: 'héllo  world' } }));
      const bodyHash = createHash('sha256').update(body).digest('hex');
      const extra: Record<string, string> = { 'content-type': 'application/json', ...(c.headers ?? {}) };
      for (const at of [new Date('2026-12-02T16:59:07.123Z'), new Date('2027-01-01T00:00:00.000Z')]) {
        const sdk = await new SignatureV4({
          service: c.service,
          region: c.region,
          credentials: c.credentials,
          sha256: Sha256,
        }).sign(
          {
            method: 'POST',
            protocol: 'https:',
            hostname: c.host.split(':')[0]!,
            path: c.path,
            query: {},
            headers: { host: c.host, 'x-amz-content-sha256': bodyHash, ...extra },
            body,
          },
          { signingDate: at },
        );
        const ours = await new RequestSigner(
          c.service,
          () => c.region,
          async () => c.credentials,
        ).sign({ method: 'POST', host: c.host, path: c.path, headers: extra, bodyHash }, at);
        const lower = Object.fromEntries(Object.entries(sdk.headers).map(([k, v]) => [k.toLowerCase(), v]));
        expect(ours).toEqual(lower);
      }
    });
  }

  it('derives a new signing key when the day changes', async () => {
    const signer = new RequestSigner(
      'execute-api',
      () => 'us-east-1',
      async () => cases[0]!.credentials,
    );
    const request = { method: 'POST' as const, host: 'h', path: '/p', headers: {}, bodyHash: 'e3b0' };
    const first = await signer.sign(request, new Date('2026-12-02T23:59:59Z'));
    const second = await signer.sign(request, new Date('2026-12-03T00:00:01Z'));
    expect(first.authorization).toContain('/20261202/us-east-1/execute-api/aws4_request');
    expect(second.authorization).toContain('/20261203/us-east-1/execute-api/aws4_request');
    const fresh = await new RequestSigner(
      'execute-api',
      () => 'us-east-1',
      async () => cases[0]!.credentials,
    ).sign(request, new Date('2026-12-03T00:00:01Z'));
    expect(second.authorization).toBe(fresh.authorization);
  });
});
