import type { Conversation, ConversationStatus, Message, ParticipantRole, ReadReceipt } from '../messaging/types';

/**
 * What the server sends on a WebSocket: one JSON object per frame, `{ "type": …, "data": … }`,
 * with the HTTP API's shapes. Each write decides its audience in its own statement (the
 * connection ids it returns), so a frame reaches only the participants of its conversation.
 * Who receives each type, in words, is written once: `frameTable` in ./contract.ts (the docs).
 */
export interface ServerFrames {
  'conversation.created': Conversation;
  'message.created': Message;
  'message.updated': Message;
  'message.deleted': Message;
  'conversation.read': ReadReceipt;
  'participant.added': { conversationId: string; userId: string; role: ParticipantRole };
  'participant.removed': { conversationId: string; userId: string };
  'conversation.updated': { id: string; status: ConversationStatus; updatedAt: string };
  typing: { conversationId: string; userId: string };
  pong: Record<string, never>;
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
