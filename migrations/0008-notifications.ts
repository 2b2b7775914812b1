import { type Kysely, sql } from 'kysely';

/**
 * Profiles, email digests and outgoing domain events (issue 16).
 *
 * - users gain the profile Cognito knows (email, display name) and the user's email switch.
 * - A participant gains `muted` and the point up to which they have been emailed
 *   (`notified_seq`, `notified_at`): the digest sweep moves it in the same statement that queues
 *   the email, so no message is emailed twice and none is skipped.
 * - `email_digests` holds each queued email until SES took it: a crash between claiming and
 *   sending leaves the row, and a later sweep sends it once its lease ran out.
 * - `outbox_events`: every change other services hear about, written by triggers, so in the same
 *   statement as the change whichever statement makes it (the HTTP routes, the order projection,
 *   a cascade); the relay publishes them to EventBridge and records each as published.
 */

/**
 * The function of a row trigger that queues one event whose detail, in the API's camelCase, is
 * built from NEW (or OLD). The relay adds `eventId` (the row's id, which consumers de-duplicate by:
 * EventBridge's envelope id differs on each delivery attempt) and `occurredAt` (the row's time)
 * when it publishes: one insert on the send's hot path, nothing more.
 */
const queueing = (fn: string, detailType: string, detail: string) =>
  sql.raw(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO outbox_events (detail_type, detail) VALUES ('${detailType}', jsonb_build_object(${detail}));
  RETURN NULL;
END $$`);

const statements = [
  sql`ALTER TABLE users
        ADD COLUMN email varchar(254) CHECK (email IS NULL OR email ~ '^[^@\\s]+@[^@\\s]+$'),
        ADD COLUMN display_name varchar(100),
        ADD COLUMN email_notifications boolean NOT NULL DEFAULT true`,
  // Bounces and complaints arrive with the address alone.
  sql`CREATE INDEX users_by_email ON users (lower(email)) WHERE email IS NOT NULL`,

  sql`ALTER TABLE conversation_participants
        ADD COLUMN muted boolean NOT NULL DEFAULT false,
        ADD COLUMN notified_seq bigint NOT NULL DEFAULT 0,
        ADD COLUMN notified_at timestamptz(3)`,
  // The digest sweep's candidates: rows with something unread, by last activity, so a sweep reads
  // the recently active ones and not every unread row there is.
  sql`CREATE INDEX participants_awaiting_digest ON conversation_participants (activity_at)
        WHERE unread_count > 0 AND NOT muted`,

  sql`CREATE TABLE email_digests (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  recipient varchar(254) NOT NULL,
  -- The newest message this email covers: the participant's notified_seq when it was queued.
  up_to_seq bigint NOT NULL,
  -- What the email says, fixed when queued, so a retry sends the same email.
  content jsonb NOT NULL,
  queued_at timestamptz(3) NOT NULL DEFAULT now(),
  -- Until then a sweep is sending it; after it, another sweep may.
  lease_until timestamptz(3) NOT NULL,
  attempts integer NOT NULL DEFAULT 1,
  sent_at timestamptz(3),
  ses_message_id varchar(255),
  failed_at timestamptz(3),
  failure varchar(500)
)`,
  sql`CREATE INDEX email_digests_unsent ON email_digests (lease_until) WHERE sent_at IS NULL AND failed_at IS NULL`,
  sql`CREATE INDEX email_digests_done ON email_digests (queued_at) WHERE sent_at IS NOT NULL OR failed_at IS NOT NULL`,

  sql`CREATE TABLE outbox_events (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  detail_type varchar(64) NOT NULL,
  detail jsonb NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  lease_until timestamptz(3) NOT NULL DEFAULT '-infinity',
  attempts integer NOT NULL DEFAULT 0,
  published_at timestamptz(3)
)`,
  sql`CREATE INDEX outbox_unpublished ON outbox_events (created_at) WHERE published_at IS NULL`,
  sql`CREATE INDEX outbox_published ON outbox_events (published_at) WHERE published_at IS NOT NULL`,

  queueing(
    'outbox_message_sent',
    'MessageSent',
    `'conversationId', NEW.conversation_id, 'messageId', NEW.id, 'seq', NEW.seq, 'senderId', NEW.sender_id,
     'kind', NEW.kind, 'content', NEW.content, 'replyToId', NEW.reply_to_id,
     'attachments', CASE WHEN NEW.attachments IS NULL THEN '[]'::jsonb ELSE (SELECT coalesce(jsonb_agg(jsonb_build_object('id', a->>'id', 'filename', a->>'filename',
                                      'contentType', a->>'content_type', 'size', (a->>'size')::bigint)), '[]'::jsonb)
                       FROM jsonb_array_elements(NEW.attachments) a) END,
     'createdAt', NEW.created_at`,
  ),
  sql`CREATE TRIGGER messages_outbox AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION outbox_message_sent()`,

  queueing(
    'outbox_conversation_created',
    'ConversationCreated',
    `'conversationId', NEW.id, 'type', NEW.type, 'subject', NEW.subject, 'orderId', NEW.order_id, 'createdBy', NEW.created_by, 'createdAt', NEW.created_at`,
  ),
  sql`CREATE TRIGGER conversations_outbox_created AFTER INSERT ON conversations FOR EACH ROW
      EXECUTE FUNCTION outbox_conversation_created()`,

  queueing(
    'outbox_conversation_status_changed',
    'ConversationStatusChanged',
    `'conversationId', NEW.id, 'status', NEW.status, 'previousStatus', OLD.status, 'changedAt', NEW.updated_at`,
  ),
  sql`CREATE TRIGGER conversations_outbox_status AFTER UPDATE OF status ON conversations FOR EACH ROW
      WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION outbox_conversation_status_changed()`,

  queueing(
    'outbox_participant_added',
    'ParticipantAdded',
    `'conversationId', NEW.conversation_id, 'userId', NEW.user_id, 'role', NEW.role, 'joinedAt', NEW.joined_at`,
  ),
  sql`CREATE TRIGGER participants_outbox_added AFTER INSERT ON conversation_participants FOR EACH ROW
      EXECUTE FUNCTION outbox_participant_added()`,

  // A participant removed with their whole conversation (the order was deleted) is not news of its
  // own: by the time the cascade's AFTER trigger runs, the conversation row is gone.
  sql`CREATE FUNCTION outbox_participant_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM conversations c WHERE c.id = OLD.conversation_id) THEN
    INSERT INTO outbox_events (detail_type, detail) VALUES ('ParticipantRemoved', jsonb_build_object(
      'conversationId', OLD.conversation_id, 'userId', OLD.user_id, 'role', OLD.role));
  END IF;
  RETURN NULL;
END $$`,
  sql`CREATE TRIGGER participants_outbox_removed AFTER DELETE ON conversation_participants FOR EACH ROW
      EXECUTE FUNCTION outbox_participant_removed()`,

  // A read mark that moves forward; marking unread moves it back and is not a read. Nor is a
  // sender's own mark moving to the message they just sent: the send moves the activity time in
  // the same update (a read never does), so the WHEN clause keeps the trigger off the send's hot
  // path; the function's own check (the newest message read is the reader's own) stays for any
  // other way a mark might reach one's own message.
  sql`CREATE FUNCTION outbox_message_read() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  newest messages;
BEGIN
  SELECT m.* INTO newest FROM messages m WHERE m.conversation_id = NEW.conversation_id AND m.seq = NEW.last_read_seq;
  IF newest.sender_id IS NOT DISTINCT FROM NEW.user_id THEN
    RETURN NULL;
  END IF;
  INSERT INTO outbox_events (detail_type, detail) VALUES ('MessageRead', jsonb_build_object(
    'conversationId', NEW.conversation_id, 'userId', NEW.user_id, 'lastReadSeq', NEW.last_read_seq,
    'lastReadAt', NEW.last_read_at, 'lastReadMessageId', newest.id));
  RETURN NULL;
END $$`,
  sql`CREATE TRIGGER participants_outbox_read AFTER UPDATE OF last_read_seq ON conversation_participants FOR EACH ROW
      WHEN (NEW.last_read_seq > OLD.last_read_seq AND NEW.activity_at IS NOT DISTINCT FROM OLD.activity_at)
      EXECUTE FUNCTION outbox_message_read()`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of statements) await statement.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    sql`DROP TRIGGER participants_outbox_read ON conversation_participants`,
    sql`DROP TRIGGER participants_outbox_removed ON conversation_participants`,
    sql`DROP TRIGGER participants_outbox_added ON conversation_participants`,
    sql`DROP TRIGGER conversations_outbox_status ON conversations`,
    sql`DROP TRIGGER conversations_outbox_created ON conversations`,
    sql`DROP TRIGGER messages_outbox ON messages`,
    sql`DROP FUNCTION outbox_message_read()`,
    sql`DROP FUNCTION outbox_participant_removed()`,
    sql`DROP FUNCTION outbox_participant_added()`,
    sql`DROP FUNCTION outbox_conversation_status_changed()`,
    sql`DROP FUNCTION outbox_conversation_created()`,
    sql`DROP FUNCTION outbox_message_sent()`,
    sql`DROP TABLE outbox_events`,
    sql`DROP TABLE email_digests`,
    sql`DROP INDEX participants_awaiting_digest`,
    sql`ALTER TABLE conversation_participants DROP COLUMN muted, DROP COLUMN notified_seq, DROP COLUMN notified_at`,
    sql`DROP INDEX users_by_email`,
    sql`ALTER TABLE users DROP COLUMN email, DROP COLUMN display_name, DROP COLUMN email_notifications`,
  ])
    await statement.execute(db);
}
