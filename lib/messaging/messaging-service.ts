import type { Kysely } from 'kysely';
import type { Database, ParticipantRole } from '../db/schema';
import { type Publisher, silentPublisher } from '../realtime/publisher';
import * as attachments from './attachments';
import * as connections from './connections';
import * as conversations from './conversations';
import type { MessagingLimits } from './limits';
import * as messages from './messages';
import type { ProjectionOutcome } from './order-projection';
import * as participants from './participants';
import * as readMarks from './read-marks';
import { type Domain, domainOver } from './sql';
import type {
  AdminConversationFilters,
  AttachmentDownload,
  AttachmentUpload,
  Caller,
  Conversation,
  ConversationFilters,
  CreateAttachmentInput,
  CreateConversationInput,
  Message,
  MessagePageRequest,
  MessageVersion,
  Page,
  PageRequest,
  Participant,
  Profile,
  ProfileChange,
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
 * The messaging domain behind one object, for the tests and the local tools. Each method is
 * named as its route (`list-conversations` → `listConversations`) and delegates to the module of
 * its noun, where the rule and its one SQL statement live; the Lambdas call those modules
 * directly (so each bundle carries only its noun's code). Access is decided there, not in HTTP:
 * a non-participant gets the same NotFoundError as for a conversation that does not exist; admins
 * read everything but write only where they take part.
 *
 * A write that changes what participants see pushes it to their WebSockets as an explicit step
 * after its statement, in the noun's module (lib/messaging/push.ts).
 */
export class MessagingService {
  readonly domain: Domain;

  constructor(
    db: Kysely<Database>,
    limits: Partial<MessagingLimits> = {},
    publisher: Publisher = silentPublisher,
    attachments: Parameters<typeof domainOver>[3] = {},
  ) {
    this.domain = domainOver(db, limits, publisher, attachments);
  }

  createAttachment(caller: Caller, conversationId: string, input: CreateAttachmentInput): Promise<AttachmentUpload> {
    return attachments.createAttachment(this.domain, caller, conversationId, input);
  }

  getAttachment(caller: Caller, attachmentId: string): Promise<AttachmentDownload> {
    return attachments.downloadAttachment(this.domain, caller, attachmentId);
  }

  /** What the ObjectCreated function does with one record's key. */
  checkUploadedAttachment(eventKey: string): Promise<attachments.CheckOutcome> {
    return attachments.checkUploadedAttachment(this.domain, eventKey);
  }

  sweepAttachments(): Promise<{ deleted: number }> {
    return attachments.sweepAttachments(this.domain);
  }

  connect(connectionId: string, userId: string): Promise<void> {
    return connections.connect(this.domain, connectionId, userId);
  }

  disconnect(connectionId: string): Promise<void> {
    return connections.disconnect(this.domain, connectionId);
  }

  signalTyping(caller: Caller, conversationId: string) {
    return participants.signalTyping(this.domain, caller, conversationId);
  }

  announceOrderChange(change: ProjectionOutcome): Promise<void> {
    return conversations.announceOrderChange(this.domain, change);
  }

  recordUser(userId: string, role: ParticipantRole): Promise<void> {
    return users.recordUser(this.domain, userId, role);
  }

  registerUser(userId: string, profile: users.CognitoProfile = {}): Promise<void> {
    return users.registerUser(this.domain, userId, profile);
  }

  getProfile(caller: Caller): Promise<Profile> {
    return users.getProfile(this.domain, caller);
  }

  updateProfile(caller: Caller, change: ProfileChange): Promise<Profile> {
    return users.updateProfile(this.domain, caller, change);
  }

  setConversationNotifications(caller: Caller, conversationId: string, setting: { muted: boolean }) {
    return participants.setConversationNotifications(this.domain, caller, conversationId, setting);
  }

  listConversations(caller: Caller, filters: ConversationFilters, page: PageRequest): Promise<Page<Conversation>> {
    return conversations.listConversations(this.domain, caller, filters, page);
  }

  createConversation(caller: Caller, input: CreateConversationInput): Promise<Conversation> {
    return conversations.createConversation(this.domain, caller, input);
  }

  getConversation(caller: Caller, conversationId: string): Promise<Conversation> {
    return conversations.getConversation(this.domain, caller, conversationId);
  }

  listMessages(caller: Caller, conversationId: string, request: MessagePageRequest): Promise<Page<Message>> {
    return messages.listMessages(this.domain, caller, conversationId, request);
  }

  sendMessage(caller: Caller, conversationId: string, input: SendMessageInput): Promise<SendResult> {
    return messages.sendMessage(this.domain, caller, conversationId, input);
  }

  editMessage(caller: Caller, messageId: string, input: { content: string }): Promise<Message> {
    return messages.editMessage(this.domain, caller, messageId, input);
  }

  deleteMessage(caller: Caller, messageId: string): Promise<Message> {
    return messages.deleteMessage(this.domain, caller, messageId);
  }

  addReaction(caller: Caller, messageId: string, emoji: string): Promise<Message> {
    return messages.addReaction(this.domain, caller, messageId, emoji);
  }

  removeReaction(caller: Caller, messageId: string, emoji: string): Promise<Message> {
    return messages.removeReaction(this.domain, caller, messageId, emoji);
  }

  adminListMessageVersions(caller: Caller, messageId: string): Promise<MessageVersion[]> {
    return messages.listMessageVersions(this.domain, caller, messageId);
  }

  markMessageRead(caller: Caller, messageId: string): Promise<Message> {
    return readMarks.markMessageRead(this.domain, caller, messageId);
  }

  markMessageUnread(caller: Caller, messageId: string): Promise<UnreadMark> {
    return readMarks.markMessageUnread(this.domain, caller, messageId);
  }

  markConversationRead(caller: Caller, conversationId: string): Promise<ReadMark> {
    return readMarks.markConversationRead(this.domain, caller, conversationId);
  }

  addParticipant(
    caller: Caller,
    conversationId: string,
    userId: string,
  ): Promise<{ participant: Participant; added: boolean }> {
    return participants.addParticipant(this.domain, caller, conversationId, userId);
  }

  removeParticipant(caller: Caller, conversationId: string, userId: string): Promise<void> {
    return participants.removeParticipant(this.domain, caller, conversationId, userId);
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

  adminSetConversationStatus(
    caller: Caller,
    conversationId: string,
    status: Conversation['status'],
  ): Promise<Conversation> {
    return conversations.adminSetConversationStatus(this.domain, caller, conversationId, status);
  }
}
