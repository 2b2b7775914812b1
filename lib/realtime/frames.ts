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

/** A change and the connections that must hear of it, as a write's statement returns them. */
export interface Push {
  connectionIds: readonly string[];
  frame: ServerFrame;
}
