import { type CheckableContentType, isCheckableContentType } from './attachment-types';

/**
 * What the first bytes of a file must look like for each media type an upload may declare. The
 * check on the bucket's ObjectCreated event reads HEAD_BYTES of every upload and keeps it only
 * when they match its declared type: a page or a script renamed `photo.png` is deleted before
 * anyone can download it. Only types with a check here can be configured (lib/config.ts).
 */

/**
 * How much of the file the check reads: every signature below, and more than the 1,445 bytes a
 * browser sniffs for markup.
 */
export const HEAD_BYTES = 2048;

const bytesAt = (head: Uint8Array, offset: number, expected: readonly number[]) =>
  head.length >= offset + expected.length && expected.every((byte, i) => head[offset + i] === byte);
const asciiAt = (head: Uint8Array, offset: number, text: string) =>
  bytesAt(
    head,
    offset,
    [...text].map((c) => c.charCodeAt(0)),
  );

/** Office 97–2003 documents: the OLE compound file header. */
const compoundFile = (head: Uint8Array) => bytesAt(head, 0, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
/** Office Open XML documents are ZIP archives: a local file header first. */
const zipArchive = (head: Uint8Array) => bytesAt(head, 0, [0x50, 0x4b, 0x03, 0x04]);
/** HEIF/HEIC (iPhone photos): an ISO BMFF `ftyp` box whose major brand is a HEIF one. */
const heifBrands = ['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1'];
const heif = (head: Uint8Array) => asciiAt(head, 4, 'ftyp') && heifBrands.some((brand) => asciiAt(head, 8, brand));

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Text that starts, after white space and a BOM, like markup: a tag, a closing tag, a comment, a
 * doctype or a processing instruction (`<` then a letter, `/`, `!` or `?`). Stricter than WHATWG
 * MIME Sniffing's list of HTML tags, on purpose: `<svg/onload=…>`, `<html/>`, XHTML with a
 * namespace and feeds all carry scripts, and plain text rarely starts that way.
 */
export function looksLikeMarkup(text: string): boolean {
  return /^<[a-z!?/]/i.test(text.replace(/^\uFEFF/, '').trimStart());
}

/**
 * Plain text: UTF-8 without NUL, and not markup. `complete` is false when the head is a prefix of
 * a longer file, whose last character may be cut in the middle: up to three trailing bytes are
 * then allowed to be the start of one.
 */
function plainText(head: Uint8Array, complete: boolean): boolean {
  if (head.includes(0)) return false;
  // White space up to where the check stops reading could hide markup right after it.
  if (!complete && strictUtf8Prefix(head).trim() === '') return false;
  for (let cut = 0; cut <= (complete ? 0 : Math.min(3, head.length)); cut += 1) {
    try {
      return !looksLikeMarkup(strictUtf8.decode(head.subarray(0, head.length - cut)));
    } catch {
      // Try without one more trailing byte: a character cut by the range.
    }
  }
  return false;
}

/** The head as text, lenient about a character cut at its end (what trim needs). */
function strictUtf8Prefix(head: Uint8Array): string {
  return new TextDecoder('utf-8').decode(head);
}

type Signature = (head: Uint8Array, complete: boolean) => boolean;

const signatures: Record<CheckableContentType, Signature> = {
  'image/jpeg': (h) => bytesAt(h, 0, [0xff, 0xd8, 0xff]),
  'image/png': (h) => bytesAt(h, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  'image/gif': (h) => asciiAt(h, 0, 'GIF87a') || asciiAt(h, 0, 'GIF89a'),
  'image/webp': (h) => asciiAt(h, 0, 'RIFF') && asciiAt(h, 8, 'WEBP'),
  'image/heic': heif,
  'image/heif': heif,
  'application/pdf': (h) => asciiAt(h, 0, '%PDF-'),
  'text/plain': plainText,
  'text/csv': plainText,
  'application/msword': compoundFile,
  'application/vnd.ms-excel': compoundFile,
  'application/vnd.ms-powerpoint': compoundFile,
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': zipArchive,
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': zipArchive,
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': zipArchive,
};

/** Images open in the browser on download; everything else is offered as a file to save. */
export const opensInline = (contentType: string) => contentType.startsWith('image/');

/** The file name endings each type is saved under. */
const extensions: Record<CheckableContentType, readonly string[]> = {
  'image/jpeg': ['.jpg', '.jpeg'],
  'image/png': ['.png'],
  'image/gif': ['.gif'],
  'image/webp': ['.webp'],
  'image/heic': ['.heic'],
  'image/heif': ['.heif'],
  'application/pdf': ['.pdf'],
  'text/plain': ['.txt', '.text', '.log'],
  'text/csv': ['.csv'],
  'application/msword': ['.doc'],
  'application/vnd.ms-excel': ['.xls'],
  'application/vnd.ms-powerpoint': ['.ppt'],
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': ['.docx'],
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': ['.xlsx'],
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': ['.pptx'],
};

/**
 * The name a download is saved under: the uploader's, with the type's extension added when it
 * ends otherwise, so `invoice.js` checked as text is saved as `invoice.js.txt` and opens as text,
 * not as a script.
 */
export function downloadFilename(filename: string, contentType: string): string {
  const endings = isCheckableContentType(contentType) ? extensions[contentType] : [];
  const lower = filename.toLowerCase();
  return endings.length === 0 || endings.some((e) => lower.endsWith(e)) ? filename : `${filename}${endings[0]}`;
}

/** The type a download is served with: text says its charset (the check admitted UTF-8 only). */
export const servedContentType = (contentType: string) =>
  contentType.startsWith('text/') ? `${contentType}; charset=utf-8` : contentType;

/** True when `head` (the file's first bytes; `complete`: the whole file) is a file of `contentType`. */
export function matchesContentType(contentType: string, head: Uint8Array, complete: boolean): boolean {
  const signature = isCheckableContentType(contentType) ? signatures[contentType] : undefined;
  return signature !== undefined && head.length > 0 && signature(head, complete);
}
