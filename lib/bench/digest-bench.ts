import pg from 'pg';
import { claimDigests, defaultDigestSettings } from '../messaging/digests';
import type { DataSetSize } from './seed';
import { captureOurs, type PgbenchFigures, pgbench } from './sql-bench';

/**
 * The digest sweep's claim at full size (issue 16): one statement, measured with pgbench inside a
 * rolled-back transaction so that every iteration finds the same due work. The seed's activity is
 * weeks old, so first the newest `recentConversations` conversations are made active ten minutes
 * ago (due: older than NOTIFY_DELAY_SECONDS, 300 s) and every user gets an address; the rest of
 * the conversations stay as seeded, outside the day the claim walks.
 */
export interface DigestFigures {
  users: number;
  recentConversations: number;
  /** Participants due a digest when the claim runs (it takes `batch` of them). */
  due: number;
  batch: number;
  /** Rows the measured claim returns (queued emails). */
  claimed: number;
  claim: PgbenchFigures;
}

export async function digestSweepBench(
  size: DataSetSize,
  url: string,
  seconds: number,
  log: (line: string) => void,
): Promise<DigestFigures> {
  const recentConversations = Math.max(1, Math.round(size.conversations / 100));
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`UPDATE users SET email = 'user-' || left(id::text, 8) || '@bench.test' WHERE email IS NULL`);
    // The newest conversations' messages move to end ten minutes ago, a minute apart, as seeded.
    await client.query(
      `WITH recent AS (SELECT id, last_message_seq FROM conversations ORDER BY created_at DESC LIMIT $1)
       UPDATE messages m SET created_at = now() - interval '10 minutes' - (r.last_message_seq - m.seq) * interval '1 minute'
         FROM recent r WHERE m.conversation_id = r.id`,
      [recentConversations],
    );
    // Their activity too, on the conversation and mirrored on its participants as the service keeps
    // it: the update trigger would stamp the conversation with now(), so it is off for this session.
    await client.query(`SET session_replication_role = replica`);
    await client.query(
      `WITH recent AS (
         UPDATE conversations c SET updated_at = now() - interval '10 minutes'
          WHERE c.id IN (SELECT id FROM conversations ORDER BY created_at DESC LIMIT $1) RETURNING c.id, c.updated_at)
       UPDATE conversation_participants p SET activity_at = r.updated_at, notified_seq = 0, notified_at = NULL
         FROM recent r WHERE p.conversation_id = r.id`,
      [recentConversations],
    );
    await client.query(`RESET session_replication_role`);
    await client.query('VACUUM (ANALYZE) users, messages, conversations, conversation_participants');
    const settings = { ...defaultDigestSettings };
    const { claim } = await captureOurs(url, {
      claim: (service) => claimDigests(service.domain, settings),
    });
    const due = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM conversation_participants p JOIN users u ON u.id = p.user_id
        WHERE p.unread_count > 0 AND NOT p.muted AND p.activity_at > now() - interval '1 day'
          AND u.email IS NOT NULL AND u.email_notifications`,
    );
    await client.query('BEGIN');
    const claimed = (await client.query(claim!)).rowCount ?? 0;
    await client.query('ROLLBACK');
    log(`digest claim: ${Number(due.rows[0]!.n).toLocaleString('en')} participants due, a claim takes ${claimed}`);
    const figures = await pgbench(url, `BEGIN;\n${claim};\nROLLBACK;\n`, 1, seconds, 1);
    log(
      `digest claim (one statement, batch ${settings.batch}): p50 ${figures.p50.toFixed(1)} ms, p95 ${figures.p95.toFixed(1)} ms`,
    );
    return {
      users: size.users,
      recentConversations,
      due: Number(due.rows[0]!.n),
      batch: settings.batch,
      claimed,
      claim: figures,
    };
  } finally {
    await client.end();
  }
}
