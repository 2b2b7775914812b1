import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NodeSha256 } from '../../lib/aws/node-sha256';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

async function digestOf(secret: string | Uint8Array | undefined, data: string): Promise<string> {
  const hash = new NodeSha256(secret);
  hash.update(Buffer.from(data, 'utf8'));
  return hex(await hash.digest());
}

describe('NodeSha256, the Checksum SigV4 signs and verifies with', () => {
  it('gives RFC 4231 HMAC-SHA256 and FIPS 180 SHA-256, each time it is asked (the kept keys included)', async () => {
    // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
    const rfc4231 = '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843';
    for (let round = 0; round < 3; round++) {
      expect(await digestOf('Jefe', 'what do ya want for nothing?')).toBe(rfc4231);
      expect(await digestOf(new TextEncoder().encode('Jefe'), 'what do ya want for nothing?')).toBe(rfc4231);
    }
    expect(await digestOf(undefined, 'abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('keeps keys apart: a view into a larger buffer, an empty key, and more keys than it keeps', async () => {
    const backing = Buffer.from('xxJefexx', 'utf8');
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 2, 4);
    expect(await digestOf(view, 'what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    expect(await digestOf('', 'data')).toBe(createHmac('sha256', Buffer.alloc(0)).update('data').digest('hex'));
    for (let i = 0; i < 100; i++) {
      const key = `key ${i % 40}`;
      expect(await digestOf(key, `data ${i}`)).toBe(createHmac('sha256', key).update(`data ${i}`).digest('hex'));
    }
  });

  it('lets a plain hash be read again and fed more, as the SDK’s own Checksum does', async () => {
    const hash = new NodeSha256();
    hash.update(Buffer.from('ab'));
    const partial = hex(await hash.digest());
    expect(hex(await hash.digest())).toBe(partial);
    hash.update(Buffer.from('c'));
    expect(hex(await hash.digest())).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('starts over on reset, under the same key', async () => {
    const hash = new NodeSha256('Jefe');
    hash.update(Buffer.from('something else'));
    hash.reset();
    hash.update(Buffer.from('what do ya want for nothing?'));
    expect(hex(await hash.digest())).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });
});
