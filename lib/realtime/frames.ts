import type { Conversation, ConversationStatus, Message, ParticipantRole, ReadReceipt } from '../messaging/types';

/**
 * What the server sends on a WebSocket: one JSON object per frame, `{ "type": …, "data": … }`,
 * with the HTTP API's shapes. Each write decides its audience in its own statement (the
 * connection ids it returns), so a frame reaches only the participants of its conversation.
 */
export interface ServerFrames {
  /** To every participant, the creator included; also when an order event creates it. */
  'conversation.created': Conversation;
  /** To every participant, the sender's other devices included; system messages too. */
  'message.created': Message;
  /** Edited, or its reactions changed: the Message as each recipient sees it. */
  'message.updated': Message;
  /** The tombstone: content null, deletedAt set. */
  'message.deleted': Message;
  /** A read receipt, to the other participants. */
  'conversation.read': ReadReceipt;
  /** To the participants, the new one included. */
  'participant.added': { conversationId: string; userId: string; role: ParticipantRole };
  /** To the participants, the removed one included, who then hears nothing more. */
  'participant.removed': { conversationId: string; userId: string };
  /** Closed or reopened. */
  'conversation.updated': { id: string; status: ConversationStatus; updatedAt: string };
  /** To the other participants; never stored. */
  typing: { conversationId: string; userId: string };
  pong: Record<string, never>;
  /** A bad frame or a refused action, to its sender only. */
  error: { code: string; message: string };
}

export type FrameType = keyof ServerFrames;
export type ServerFrame = { [T in FrameType]: { type: T; data: ServerFrames[T] } }[FrameType];

export const frame = <T extends FrameType>(type: T, data: ServerFrames[T]) => ({ type, data }) as ServerFrame;

/** Every frame type, who receives it and what its data is: the docs page and the README read it. */
export const frameTable: Record<FrameType, { to: string; data: string }> = {
  'conversation.created': {
    to: 'every participant, the creator included; also when an order event creates it',
    data: 'a Conversation, as `GET /v1/messages/conversations/{id}` answers it',
  },
  'message.created': {
    to: "every participant, the sender's other devices included; system messages too",
    data: 'a Message',
  },
  'message.updated': {
    to: 'every participant, when it is edited or its reactions change',
    data: 'a Message, as that participant sees it (`reactions[].me` is theirs)',
  },
  'message.deleted': {
    to: 'every participant',
    data: 'the tombstone: a Message with `content` null and `deletedAt` set',
  },
  'conversation.read': {
    to: 'the other participants (a read receipt)',
    data: '`{ conversationId, userId, lastReadAt, lastReadMessageId }`',
  },
  'participant.added': { to: 'the participants, the new one included', data: '`{ conversationId, userId, role }`' },
  'participant.removed': {
    to: 'the participants, the removed one included, who then hears nothing more',
    data: '`{ conversationId, userId }`',
  },
  'conversation.updated': {
    to: 'the participants, when it is closed or reopened',
    data: '`{ id, status, updatedAt }`',
  },
  typing: {
    to: 'the other participants, at most once per user and conversation per 2 s; never stored',
    data: '`{ conversationId, userId }`',
  },
  pong: { to: 'the device that sent `{"action":"ping"}`', data: '`{}`' },
  error: { to: 'the device whose frame was bad or refused', data: '`{ code, message }`' },
};

export const frameTypes = Object.keys(frameTable) as FrameType[];

/** A change and the connections that must hear of it, as a write's statement returns them. */
export interface Push {
  connectionIds: readonly string[];
  frame: ServerFrame;
}
