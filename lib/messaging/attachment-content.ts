/**
 * What the first bytes of a file must look like for each media type an upload may declare. The
 * check on the bucket's ObjectCreated event reads HEAD_BYTES of every upload and keeps it only
 * when they match its declared type: a page or a script renamed `photo.png` is deleted before
 * anyone can download it. Only types with a check here can be configured (lib/config.ts).
 */

/** How much of the file the check reads: enough for every signature below and for a text's first lines. */
export const HEAD_BYTES = 1024;

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
 * Markup a browser would sniff as HTML or XML (WHATWG MIME Sniffing's "tag-terminated" patterns,
 * plus `<?xml` and `<svg`, which carry scripts too), after white space and a BOM.
 */
const markupStarts = [
  '<!doctype html',
  '<html',
  '<head',
  '<script',
  '<iframe',
  '<h1',
  '<div',
  '<font',
  '<table',
  '<a',
  '<style',
  '<title',
  '<b',
  '<body',
  '<br',
  '<p',
  '<!--',
  '<?xml',
  '<svg',
];

export function looksLikeMarkup(text: string): boolean {
  const start = text
    .replace(/^\uFEFF/, '')
    .trimStart()
    .toLowerCase();
  return markupStarts.some((tag) => {
    if (!start.startsWith(tag)) return false;
    const next = start.charAt(tag.length);
    return tag === '<!--' || tag === '<?xml' || next === '' || next === '>' || /\s/.test(next);
  });
}

/**
 * Plain text: UTF-8 without NUL, and not markup. `complete` is false when the head is a prefix of
 * a longer file, whose last character may be cut in the middle: up to three trailing bytes are
 * then allowed to be the start of one.
 */
function plainText(head: Uint8Array, complete: boolean): boolean {
  if (head.includes(0)) return false;
  for (let cut = 0; cut <= (complete ? 0 : Math.min(3, head.length)); cut += 1) {
    try {
      return !looksLikeMarkup(strictUtf8.decode(head.subarray(0, head.length - cut)));
    } catch {
      // Try without one more trailing byte: a character cut by the range.
    }
  }
  return false;
}

type Signature = (head: Uint8Array, complete: boolean) => boolean;

const signatures: Record<string, Signature> = {
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

/** The media types the check knows; the configured list must be drawn from these. */
export const checkableContentTypes: readonly string[] = Object.keys(signatures);

/** Images open in the browser on download; everything else is offered as a file to save. */
export const opensInline = (contentType: string) => contentType.startsWith('image/');

/** True when `head` (the file's first bytes; `complete`: the whole file) is a file of `contentType`. */
export function matchesContentType(contentType: string, head: Uint8Array, complete: boolean): boolean {
  const signature = signatures[contentType];
  return signature !== undefined && head.length > 0 && signature(head, complete);
}
