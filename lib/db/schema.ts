import type { ColumnType, Generated } from 'kysely';

/**
 * The database as Kysely sees it. Timestamps are `timestamptz(3)`: millisecond precision, so a
 * value read back and sent again as a filter (`updatedSince`) compares exactly.
 * bigint columns are typed as string: node-postgres returns int8 as text, and the Data API
 * dialect and the PGlite factory are set up to do the same, so no value past 2^53 is rounded.
 */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Int8 = ColumnType<string, string | number | bigint | undefined, string | number | bigint>;

export const participantRoles = ['user', 'agent', 'admin', 'service_provider'] as const;
export type ParticipantRole = (typeof participantRoles)[number];

export const conversationTypes = ['order', 'general', 'support'] as const;
export type ConversationType = (typeof conversationTypes)[number];

export const conversationStatuses = ['active', 'closed'] as const;
export type ConversationStatus = (typeof conversationStatuses)[number];

export const messageKinds = ['user', 'system'] as const;
export type MessageKind = (typeof messageKinds)[number];

export interface UsersTable {
  id: string;
  role: ParticipantRole;
  /** From Cognito's attributes (migration 0008). */
  email: string | null;
  display_name: string | null;
  /** Whether digests are emailed; off after an unsubscribe, a bounce or a complaint. */
  email_notifications: Generated<boolean>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface OrdersTable {
  id: string;
  owner_id: string | null;
  service_provider_id: string | null;
  service_provider_changed_at: Timestamp | null;
  title: string | null;
  status: string | null;
  status_version: Int8 | null;
  status_changed_at: Timestamp | null;
  /** The statuses applied at status_changed_at: an equal-time repeat of one of them is a no-op. */
  statuses_at_changed_at: string[] | null;
  deleted_at: Timestamp | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface ConversationsTable {
  id: Generated<string>;
  order_id: string | null;
  type: ConversationType;
  subject: string | null;
  status: Generated<ConversationStatus>;
  created_by: string | null;
  last_message_seq: Generated<Int8>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  /**
   * The largest size bound of any message the conversation has had (migration 0010; message pages
   * read it); NULL for conversations older than the migration: not known.
   */
  largest_message_bound: Int8 | null;
}

export interface ConversationParticipantsTable {
  id: Generated<string>;
  conversation_id: string;
  user_id: string;
  role: ParticipantRole;
  joined_at: Generated<Date>;
  last_read_at: Timestamp | null;
  last_read_seq: Generated<Int8>;
  unread_count: Generated<number>;
  activity_at: Generated<Date>;
  /** When this participant's last typing frame went out (the typing route's 2 s throttle). */
  typing_at: Timestamp | null;
  /** No digests for this conversation (migration 0008). */
  muted: Generated<boolean>;
  /** The newest message a digest told this participant of, and when it was queued. */
  notified_seq: Generated<Int8>;
  notified_at: Timestamp | null;
}

export interface MessagesTable {
  id: Generated<string>;
  conversation_id: string;
  seq: Int8;
  sender_id: string | null;
  kind: MessageKind;
  content: string;
  client_message_id: string | null;
  read_at: Timestamp | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type RateLimitedAction = 'send_message' | 'create_conversation' | 'add_participant' | 'create_attachment';

/** One user's recent actions of one kind: the sliding-window rate limiter (see take_rate_slot). */
export interface RateLimitsTable {
  user_id: string;
  action: RateLimitedAction;
  recent: ColumnType<Date[], string, string>;
}

/** One open WebSocket of a user (migration 0005). */
export interface ConnectionsTable {
  connection_id: string;
  user_id: string;
  connected_at: Generated<Date>;
  /** API Gateway closes every connection within 2 hours; a row whose $disconnect never came expires. */
  expires_at: Timestamp;
}

export type AttachmentState = 'pending' | 'ready' | 'rejected' | 'deleted';

/** One upload the API started (migration 0007); its object is `attachments/<conversation_id>/<id>`. */
export interface AttachmentsTable {
  id: Generated<string>;
  conversation_id: string;
  uploader_id: string;
  filename: string;
  content_type: string;
  size: Int8;
  state: Generated<AttachmentState>;
  message_id: string | null;
  created_at: Generated<Date>;
  checked_at: Timestamp | null;
  rejection: string | null;
}

/** One queued digest email (migration 0008): sent once SES accepted it, retried after its lease. */
export interface EmailDigestsTable {
  id: Generated<string>;
  user_id: string;
  conversation_id: string;
  recipient: string;
  up_to_seq: Int8;
  content: ColumnType<unknown, string, string>;
  queued_at: Generated<Date>;
  lease_until: Timestamp;
  attempts: Generated<number>;
  sent_at: Timestamp | null;
  ses_message_id: string | null;
  failed_at: Timestamp | null;
  failure: string | null;
}

/** One domain event to publish (migration 0008), written by triggers in the statement of its change. */
export interface OutboxEventsTable {
  id: string;
  detail_type: string;
  detail: ColumnType<unknown, string, string>;
  created_at: Generated<Date>;
  lease_until: Generated<Date>;
  attempts: Generated<number>;
  published_at: Timestamp | null;
}

export interface Database {
  users: UsersTable;
  orders: OrdersTable;
  conversations: ConversationsTable;
  conversation_participants: ConversationParticipantsTable;
  messages: MessagesTable;
  rate_limits: RateLimitsTable;
  connections: ConnectionsTable;
  attachments: AttachmentsTable;
  email_digests: EmailDigestsTable;
  outbox_events: OutboxEventsTable;
}
