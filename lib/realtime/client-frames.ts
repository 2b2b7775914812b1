import * as z from 'zod/mini';
import { uuidOf } from '../http/zod-common';

/** What a client sends besides `{ "action": "ping" }`: `{ "action": "typing", "conversationId": … }`. */
export const typingFrame = z.object({
  action: z.literal('typing'),
  conversationId: uuidOf('conversationId'),
});
