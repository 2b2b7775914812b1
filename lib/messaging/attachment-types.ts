/**
 * The media types the upload check knows (lib/messaging/attachment-content.ts has a signature for
 * each, which `tsc` holds to this list): the configured list must be drawn from these. A module of
 * its own so that the configuration, which every function reads, does not carry the check.
 */
export const checkableContentTypes = [
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
  'image/heic',
  'image/heif',
  'application/pdf',
  'text/plain',
  'text/csv',
  'application/msword',
  'application/vnd.ms-excel',
  'application/vnd.ms-powerpoint',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
] as const;

export type CheckableContentType = (typeof checkableContentTypes)[number];

export const isCheckableContentType = (type: string): type is CheckableContentType =>
  (checkableContentTypes as readonly string[]).includes(type);
