/**
 * Whether an error means the database could not be reached or is resuming: nothing was written,
 * and a retry later is right (503 with Retry-After). Covers the Data API's service exceptions,
 * the SDK's timeouts, node-postgres's connection errors and PostgreSQL's shutdown and connection
 * SQLSTATEs (class 57P, class 08), and the transient ones (deadlock, serialization, lock).
 */
const unavailableNames = new Set([
  'DatabaseResumingException',
  'DatabaseUnavailableException',
  'DatabaseNotFoundException',
  'ServiceUnavailableError',
  'TimeoutError',
]);
const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  // Transient by definition: a deadlock victim, a serialization failure, a lock not available.
  // Nothing was written and the same request is right later, so 503 with Retry-After, not 500.
  '40P01',
  '40001',
  '55P03',
]);

export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { name?: string; code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.name && unavailableNames.has(e.name)) return true;
  if (e.code && unavailableCodes.has(e.code)) return true;
  if (e.name === 'AggregateError') return true; // node's net errors when every address refused
  return /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect/i.test(e.message ?? '');
}
