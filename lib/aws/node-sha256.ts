import { createHash, createHmac, createSecretKey, type Hash, type Hmac, type KeyObject } from 'node:crypto';
import type { Checksum, SourceData } from '@smithy/types';

/**
 * SHA-256 (and HMAC-SHA256 given a secret) on node:crypto, the Checksum `SignatureV4` expects:
 * what `@smithy/hash-node`'s `Hash` bound to 'sha256' does, without depending on where that class
 * lives in a given SDK release (a separate package in older ones, `@smithy/core/checksum` in this
 * one, which is no project dependency), and faster: it keeps its HMAC keys (below). The
 * publisher signs with it, the Lambda and EventBridge clients are given it (their `sha256`
 * option), and the local S3 and SES endpoints verify with it.
 */
export class NodeSha256 implements Checksum {
  private hash: Hash | Hmac;

  constructor(private readonly secret?: SourceData) {
    this.hash = this.create();
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }

  async digest(): Promise<Uint8Array> {
    // A plain hash digests a copy, as the SDK's own does, so it can be read again or fed more.
    return 'copy' in this.hash ? this.hash.copy().digest() : this.hash.digest();
  }

  reset(): void {
    this.hash = this.create();
  }

  private create(): Hash | Hmac {
    const secret = this.secret;
    if (secret === undefined) return createHash('sha256');
    const key =
      typeof secret === 'string'
        ? Buffer.from(secret, 'utf8')
        : ArrayBuffer.isView(secret)
          ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength)
          : Buffer.from(secret);
    return createHmac('sha256', keyObjectOf(key));
  }
}

/**
 * node:crypto makes a KeyObject of a raw HMAC key on every createHmac (14–20 µs here), and one made
 * once takes 3 µs. SigV4 keys the same few HMACs again and again: a signature is an HMAC under the
 * day's signing key, and @smithy/signature-v4 finds that key in its cache by an HMAC under the
 * secret access key. So the KeyObjects are kept, a few: credentials rotate, and a full cache is
 * emptied rather than grown (the keys are secrets the credential provider holds anyway).
 */
const keyObjects = new Map<string, KeyObject>();
const keptKeyObjects = 32;

function keyObjectOf(key: Buffer): KeyObject {
  const id = key.toString('base64');
  let keyObject = keyObjects.get(id);
  if (!keyObject) {
    if (keyObjects.size >= keptKeyObjects) keyObjects.clear();
    keyObject = createSecretKey(key);
    keyObjects.set(id, keyObject);
  }
  return keyObject;
}
