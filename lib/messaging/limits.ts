/** The domain's limits and defaults, in one place: every module and the HTTP schemas import them from here. */

/** People in one conversation, its creator included. */
export const MAX_PARTICIPANTS = 50;

/** The inbox's last-message preview is cut to this many code points. */
export const LAST_MESSAGE_PREVIEW_CODE_POINTS = 200;

/**
 * A message page stops early once its content, JSON-escaped, passes this many bytes, and its
 * cursor continues from there: the Data API refuses any response over 1 MiB, and 100 messages of
 * 10,000 four-byte code points would be 4 MB.
 */
export const MESSAGE_PAGE_BYTE_BUDGET = 256 * 1024;

/**
 * `offset` skips rows one by one (the plan's paging, kept for clients that use it), so its cost
 * grows with it: a 50-message page at offset 10,000 of a 50,000-message conversation took 5.5 ms
 * in SQL at full size, at 49,000 about 270 ms, where a cursor costs 0.6 ms at any depth. Past this,
 * the API answers 400 and points to `nextCursor`.
 */
export const MAX_OFFSET = 10_000;

/** Order statuses after which the order's conversation accepts no more messages; any other status reopens it. */
export const defaultClosingStatuses = ['cancelled', 'canceled', 'refunded', 'closed', 'archived'];

/** Per-user sliding-window rate limits: at most `…Limit` actions in any `…WindowSeconds`. */
export interface MessagingLimits {
  sendLimit: number;
  sendWindowSeconds: number;
  createConversationLimit: number;
  createConversationWindowSeconds: number;
  addParticipantLimit: number;
  addParticipantWindowSeconds: number;
  /** Attachment uploads started (presigned), whether or not the file ever arrives. */
  attachmentLimit: number;
  attachmentWindowSeconds: number;
}

/**
 * The highest `…Limit` a stage may set. The limiter keeps the last `limit` admission times in the
 * user's row, 8 bytes each, read and rewritten on every admission: an exact sliding window needs
 * them. The production limits (20 to 60) keep the array in the row; past about 250 PostgreSQL
 * stores it out of line (TOAST), one more page read and written per admission. The cap bounds that
 * at 8 KB, and leaves room for a load test's one user at some 500 uploads a second (bin/bench.ts).
 */
export const MAX_RATE_LIMIT = 1000;

export const defaultLimits: MessagingLimits = {
  sendLimit: 20,
  sendWindowSeconds: 10,
  createConversationLimit: 20,
  createConversationWindowSeconds: 60,
  addParticipantLimit: 60,
  addParticipantWindowSeconds: 60,
  attachmentLimit: 60,
  attachmentWindowSeconds: 60,
};

/** Attachments one message may carry. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 10;

/** An attachment never sent in a message is deleted (row and object) this long after its upload began. */
export const UNATTACHED_ATTACHMENT_HOURS = 24;

/** The defaults of what attachments accept: raster images (what phones send), PDF, plain text, office documents. */
export const defaultAttachmentContentTypes = [
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
  'image/heic',
  'application/pdf',
  'text/plain',
  'application/msword',
  'application/vnd.ms-excel',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
];

/** 25 MiB: a phone's photo or a scanned quote, not a video. */
export const DEFAULT_ATTACHMENT_MAX_BYTES = 25 * 1024 * 1024;

export const defaultAttachmentSettings: AttachmentSettings = {
  maxBytes: DEFAULT_ATTACHMENT_MAX_BYTES,
  contentTypes: defaultAttachmentContentTypes,
  uploadExpirySeconds: 300,
  downloadExpirySeconds: 300,
};

/** Distinct reactions one person may put on one message. */
export const MAX_REACTIONS_PER_USER = 20;

/** What uploads may be and how long their presigned requests last (lib/config.ts reads them). */
export interface AttachmentSettings {
  maxBytes: number;
  contentTypes: readonly string[];
  uploadExpirySeconds: number;
  downloadExpirySeconds: number;
}
