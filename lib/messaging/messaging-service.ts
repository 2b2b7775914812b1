import type { Kysely } from 'kysely';
import type { Database, ParticipantRole } from '../db/schema';
import { frame, type ServerFrame } from '../realtime/frames';
import { type Publisher, silentPublisher } from '../realtime/publisher';
import * as connections from './connections';
import * as conversations from './conversations';
import { defaultLimits, type MessagingLimits } from './limits';
import * as messages from './messages';
import type { ProjectionOutcome } from './order-projection';
import * as participants from './participants';
import * as readMarks from './read-marks';
import { toMessage } from './rows';
import type { Domain } from './sql';
import type {
  AdminConversationFilters,
  Caller,
  Conversation,
  ConversationFilters,
  CreateConversationInput,
  Message,
  MessagePageRequest,
  MessageVersion,
  Page,
  PageRequest,
  Participant,
  ReadMark,
  SendMessageInput,
  SendResult,
  UnreadMark,
  UnreadTotal,
} from './types';
import * as users from './users';

export type { MessagingLimits } from './limits';
export { defaultLimits, LAST_MESSAGE_PREVIEW_CODE_POINTS, MAX_PARTICIPANTS, MESSAGE_PAGE_BYTE_BUDGET } from './limits';

/**
 * The messaging domain behind one object, so handlers and tests hold one thing. Each method is
 * named as its route (`list-conversations` → `listConversations`) and delegates to the module of
 * its noun, where the rule and its one SQL statement live. Access is decided there, not in HTTP:
 * a non-participant gets the same NotFoundError as for a conversation that does not exist; admins
 * read everything but write only where they take part.
 *
 * A write that changes what participants see is pushed to their WebSockets as an explicit step
 * after it (as Mattermost's app layer publishes after the store): its statement returned the
 * connections to tell, so the push costs no further database round trip. Pushing never fails
 * the request: the change is stored.
 */
export class MessagingService {
  private readonly domain: Domain;

  constructor(
    db: Kysely<Database>,
    limits: Partial<MessagingLimits> = {},
    private readonly publisher: Publisher = silentPublisher,
  ) {
    this.domain = { db, limits: { ...defaultLimits, ...limits } };
  }

  /**
   * A Message that differs per reader (its reactions' `me`): each participant's devices get the
   * message as that participant sees it, made from the same row: still no further statement.
   */
  private async pushPerReader(audienceByUser: Record<string, string[]>, seenBy: (viewer: string) => Message) {
    await Promise.all(
      Object.entries(audienceByUser).map(([viewer, connectionIds]) =>
        this.push(connectionIds, frame('message.updated', seenBy(viewer))),
      ),
    );
  }

  /** Sends one frame to the connections a write returned; forgets the ones API Gateway calls gone. */
  private async push(connectionIds: readonly string[], serverFrame: ServerFrame): Promise<void> {
    if (connectionIds.length === 0) return;
    const { gone } = await this.publisher.publish({ connectionIds, frame: serverFrame });
    // Best effort like the push itself: a row left behind expires, and the next push retries it.
    if (gone.length) await connections.forget(this.domain, gone).catch(() => {});
  }

  connect(connectionId: string, userId: string): Promise<void> {
    return connections.connect(this.domain, connectionId, userId);
  }

  disconnect(connectionId: string): Promise<void> {
    return connections.disconnect(this.domain, connectionId);
  }

  /** A typing frame: to the other participants, at most once per 2 s; 'sent' or 'throttled' are fine. */
  async signalTyping(caller: Caller, conversationId: string): Promise<'sent' | 'throttled' | 'not_found' | 'closed'> {
    const { outcome, audience } = await participants.signalTyping(this.domain, caller, conversationId);
    await this.push(audience, frame('typing', { conversationId, userId: caller.userId }));
    return outcome;
  }

  /**
   * After an order event: `conversation.created` when it made the order's conversation (one read:
   * its participants arrive at the end of the projection's statement), and `message.created` for
   * the status message it posted (returned by the projection's own statement).
   */
  async announceOrderChange(change: ProjectionOutcome): Promise<void> {
    if (change.created && change.conversationId) {
      const { conversation, lastMessage, audience } = await conversations.announcement(
        this.domain,
        change.conversationId,
      );
      if (!conversation) return;
      await this.push(audience, frame('conversation.created', conversation));
      if (change.posted && lastMessage) await this.push(audience, frame('message.created', lastMessage));
      return;
    }
    if (change.posted) {
      await this.push(change.posted.audience, frame('message.created', toMessage(change.posted.message, null)));
    }
  }

  recordUser(userId: string, role: ParticipantRole): Promise<void> {
    return users.recordUser(this.domain, userId, role);
  }

  registerUser(userId: string): Promise<void> {
    return users.registerUser(this.domain, userId);
  }

  listConversations(caller: Caller, filters: ConversationFilters, page: PageRequest): Promise<Page<Conversation>> {
    return conversations.listConversations(this.domain, caller, filters, page);
  }

  async createConversation(caller: Caller, input: CreateConversationInput): Promise<Conversation> {
    const { conversation, audience } = await conversations.createConversation(this.domain, caller, input);
    await this.push(audience, frame('conversation.created', conversation));
    return conversation;
  }

  getConversation(caller: Caller, conversationId: string): Promise<Conversation> {
    return conversations.getConversation(this.domain, caller, conversationId);
  }

  listMessages(caller: Caller, conversationId: string, request: MessagePageRequest): Promise<Page<Message>> {
    return messages.listMessages(this.domain, caller, conversationId, request);
  }

  async sendMessage(caller: Caller, conversationId: string, input: SendMessageInput): Promise<SendResult> {
    const { audience, ...sent } = await messages.sendMessage(this.domain, caller, conversationId, input);
    // A retry returns the stored message and pushes nothing: it was pushed when it was created.
    if (sent.created) await this.push(audience, frame('message.created', sent.message));
    return sent;
  }

  async markMessageRead(caller: Caller, messageId: string): Promise<Message> {
    const { message, receipt, audience } = await readMarks.markMessageRead(this.domain, caller, messageId);
    if (receipt) await this.push(audience, frame('conversation.read', receipt));
    return message;
  }

  async editMessage(caller: Caller, messageId: string, input: { content: string }): Promise<Message> {
    const { message, changed, audienceByUser, seenBy } = await messages.editMessage(
      this.domain,
      caller,
      messageId,
      input,
    );
    if (changed) await this.pushPerReader(audienceByUser, seenBy);
    return message;
  }

  async deleteMessage(caller: Caller, messageId: string): Promise<Message> {
    const { message, changed, audience } = await messages.deleteMessage(this.domain, caller, messageId);
    if (changed) await this.push(audience, frame('message.deleted', message));
    return message;
  }

  async addReaction(caller: Caller, messageId: string, emoji: string): Promise<Message> {
    const { message, changed, audienceByUser, seenBy } = await messages.react(
      this.domain,
      caller,
      messageId,
      emoji,
      true,
    );
    if (changed) await this.pushPerReader(audienceByUser, seenBy);
    return message;
  }

  async removeReaction(caller: Caller, messageId: string, emoji: string): Promise<Message> {
    const { message, changed, audienceByUser, seenBy } = await messages.react(
      this.domain,
      caller,
      messageId,
      emoji,
      false,
    );
    if (changed) await this.pushPerReader(audienceByUser, seenBy);
    return message;
  }

  adminListMessageVersions(caller: Caller, messageId: string): Promise<MessageVersion[]> {
    return messages.listMessageVersions(this.domain, caller, messageId);
  }

  markMessageUnread(caller: Caller, messageId: string): Promise<UnreadMark> {
    return readMarks.markMessageUnread(this.domain, caller, messageId);
  }

  async markConversationRead(caller: Caller, conversationId: string): Promise<ReadMark> {
    const { mark, receipt, audience } = await readMarks.markConversationRead(this.domain, caller, conversationId);
    if (receipt) await this.push(audience, frame('conversation.read', receipt));
    return mark;
  }

  async addParticipant(
    caller: Caller,
    conversationId: string,
    userId: string,
  ): Promise<{ participant: Participant; added: boolean }> {
    const { audience, ...result } = await participants.addParticipant(this.domain, caller, conversationId, userId);
    if (result.added) {
      const { role } = result.participant;
      await this.push(audience, frame('participant.added', { conversationId, userId, role }));
    }
    return result;
  }

  async removeParticipant(caller: Caller, conversationId: string, userId: string): Promise<void> {
    const { audience } = await participants.removeParticipant(this.domain, caller, conversationId, userId);
    await this.push(audience, frame('participant.removed', { conversationId, userId }));
  }

  getUnreadTotal(caller: Caller): Promise<UnreadTotal> {
    return readMarks.getUnreadTotal(this.domain, caller);
  }

  adminListConversations(
    caller: Caller,
    filters: AdminConversationFilters,
    page: PageRequest,
  ): Promise<Page<Conversation>> {
    return conversations.adminListConversations(this.domain, caller, filters, page);
  }

  adminGetConversation(caller: Caller, conversationId: string): Promise<Conversation> {
    return conversations.adminGetConversation(this.domain, caller, conversationId);
  }

  async adminSetConversationStatus(
    caller: Caller,
    conversationId: string,
    status: Conversation['status'],
  ): Promise<Conversation> {
    const { conversation, changed, audience } = await conversations.adminSetConversationStatus(
      this.domain,
      caller,
      conversationId,
      status,
    );
    if (changed) {
      const { id, updatedAt } = conversation;
      await this.push(audience, frame('conversation.updated', { id, status: conversation.status, updatedAt }));
    }
    return conversation;
  }
}
