import type { Migration } from 'kysely/migration';
import * as messaging from './0001-messaging';
import * as serialisedWrites from './0002-serialised-writes';
import * as leanHotPaths from './0003-lean-hot-paths';
import * as messagePages from './0004-message-pages';
import * as connections from './0005-connections';
import * as messageLifecycle from './0006-message-lifecycle';
import * as attachments from './0007-attachments';
import * as notifications from './0008-notifications';
import * as boundedMessagePages from './0009-bounded-message-pages';
import * as largestMessageBound from './0010-largest-message-bound';
import * as timeOrderedIds from './0011-time-ordered-ids';
import * as digestCandidatesByConversation from './0012-digest-candidates-by-conversation';

/**
 * Every migration, by name, in order. A static list rather than a folder read at run time, so
 * that the migration Lambda bundles them with esbuild.
 */
export const migrations: Record<string, Migration> = {
  '0001-messaging': messaging,
  '0002-serialised-writes': serialisedWrites,
  '0003-lean-hot-paths': leanHotPaths,
  '0004-message-pages': messagePages,
  '0005-connections': connections,
  '0006-message-lifecycle': messageLifecycle,
  '0007-attachments': attachments,
  '0008-notifications': notifications,
  '0009-bounded-message-pages': boundedMessagePages,
  '0010-largest-message-bound': largestMessageBound,
  '0011-time-ordered-ids': timeOrderedIds,
  '0012-digest-candidates-by-conversation': digestCandidatesByConversation,
};
