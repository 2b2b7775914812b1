import { describe, expect, it } from 'vitest';
import { ConfigurationError, functionEnvironment, localSettings, readConfig } from '../../lib/config';

describe('configuration', () => {
  it('reads defaults, and every variable it is given, typed', () => {
    const config = readConfig({});
    expect(config).toMatchObject({
      stage: 'local',
      maxBodyBytes: 262144,
      logLevel: 'info',
      database: { kind: 'pglite' },
    });
    expect(config.limits).toEqual({
      sendLimit: 20,
      sendWindowSeconds: 10,
      createConversationLimit: 20,
      createConversationWindowSeconds: 60,
      addParticipantLimit: 60,
      addParticipantWindowSeconds: 60,
      attachmentLimit: 60,
      attachmentWindowSeconds: 60,
    });
    expect(config.attachments).toMatchObject({
      bucket: undefined,
      maxBytes: 25 * 1024 * 1024,
      uploadExpirySeconds: 300,
    });
    expect(config.attachments.contentTypes).toContain('image/png');
    const given = readConfig({
      DATABASE_URL: 'postgres://x/y',
      DATABASE_POOL_SIZE: '3',
      ORDER_CLOSING_STATUSES: 'Done, lost,,',
      ATTACHMENT_CONTENT_TYPES: 'Image/PNG, application/pdf',
    });
    expect(given.attachments.contentTypes).toEqual(['image/png', 'application/pdf']);
    expect(given.database).toEqual({ kind: 'postgres', connectionString: 'postgres://x/y', poolSize: 3 });
    expect(given.closingStatuses).toEqual(['done', 'lost']);
  });

  it.each([
    ['SEND_RATE_LIMIT', 'abc'],
    // The limiter keeps this many times in the user's row (MAX_RATE_LIMIT).
    ['SEND_RATE_LIMIT', '1001'],
    ['DATABASE_POOL_SIZE', '0'],
    ['DB_RESUME_RETRY_MS', '-5'],
    ['LOG_LEVEL', 'loud'],
    ['MAX_BODY_BYTES', '1.5'],
    // A type the upload check cannot check would let anything through.
    ['ATTACHMENT_CONTENT_TYPES', 'image/png,text/html'],
    ['ATTACHMENTS_S3_ENDPOINT', 'not a url'],
  ])('fails at once, naming %s, on %j', (name, value) => {
    let error: unknown;
    try {
      readConfig({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain(name);
    expect((error as Error).message).not.toContain('\n');
  });

  it('needs the secret with the cluster', () => {
    expect(() => readConfig({ DB_CLUSTER_ARN: 'arn:aws:rds:x' })).toThrow(/DB_SECRET_ARN/);
  });

  it('checks the local stack settings the same way', () => {
    expect(localSettings({ PORT: '0' }).PORT).toBe(0);
    expect(() => localSettings({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => localSettings({ EVENTBRIDGE_ENDPOINT: 'not a url' })).toThrow(/EVENTBRIDGE_ENDPOINT/);
  });

  it('writes a function environment only by the names it defines', () => {
    expect(functionEnvironment({ SEND_RATE_LIMIT: 5, LOG_LEVEL: 'info', DB_NAME: undefined })).toEqual({
      SEND_RATE_LIMIT: '5',
      LOG_LEVEL: 'info',
    });
    // @ts-expect-error: a misspelt variable does not compile
    functionEnvironment({ SEND_RATE_LIMT: 5 });
  });
});
