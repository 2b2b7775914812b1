import { describe, expect, it } from 'vitest';
import {
  downloadFilename,
  looksLikeMarkup,
  matchesContentType,
  servedContentType,
} from '../../lib/messaging/attachment-content';
import { attachmentKey, contentDisposition, parseAttachmentKey } from '../../lib/messaging/attachment-files';
import { checkableContentTypes } from '../../lib/messaging/attachment-types';
import { defaultAttachmentContentTypes } from '../../lib/messaging/limits';

const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

const png = bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'IHDR rest');
const jpeg = bytes([0xff, 0xd8, 0xff, 0xe0], 'JFIF');
const pdf = bytes('%PDF-1.7\n%...');
const docx = bytes([0x50, 0x4b, 0x03, 0x04], '[Content_Types].xml');
const doc = bytes([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], 'more');
const heic = bytes([0, 0, 0, 0x18], 'ftypheic', [0, 0, 0, 0], 'mif1heic');
const webp = bytes('RIFF', [0x24, 0, 0, 0], 'WEBPVP8 ');
const html = bytes('<!DOCTYPE html><script>alert(1)</script>');

describe('the upload check: first bytes against the declared type', () => {
  it.each([
    ['image/png', png],
    ['image/jpeg', jpeg],
    ['image/webp', webp],
    ['image/heic', heic],
    ['application/pdf', pdf],
    ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', docx],
    ['application/msword', doc],
    ['text/plain', Buffer.from('The sink leaks under the left tap. Größe 3½ — 🚰\n', 'utf8')],
  ])('accepts a real %s', (type, head) => {
    expect(matchesContentType(type, head, true)).toBe(true);
  });

  it.each([
    ['image/png', html],
    ['image/png', jpeg],
    ['image/jpeg', png],
    ['application/pdf', docx],
    ['image/gif', bytes('GIF90a')],
    ['text/plain', html],
    ['text/plain', bytes('  \n<svg onload=alert(1)>')],
    ['text/plain', bytes('\uFEFF<html>')],
    ['text/plain', bytes('<?xml version="1.0"?><x/>')],
    ['text/plain', bytes([0x68, 0x69, 0x00, 0x21])],
    ['text/plain', bytes([0xc3, 0x28])],
    ['text/html', html],
    ['image/png', Buffer.alloc(0)],
  ])('rejects %s whose bytes are something else (case %#)', (type, head) => {
    expect(matchesContentType(type, head, true)).toBe(false);
  });

  it('refuses a text whose head is all white space: markup could follow past what was read', () => {
    expect(matchesContentType('text/plain', Buffer.alloc(2048, 0x20), false)).toBe(false);
    expect(matchesContentType('text/plain', Buffer.from(' \n '), true)).toBe(true);
  });

  it('saves a download under the extension of its checked type, and serves text as UTF-8', () => {
    expect(downloadFilename('invoice.js', 'text/plain')).toBe('invoice.js.txt');
    expect(downloadFilename('notes.TXT', 'text/plain')).toBe('notes.TXT');
    expect(downloadFilename('photo', 'image/jpeg')).toBe('photo.jpg');
    expect(downloadFilename('photo.jpeg', 'image/jpeg')).toBe('photo.jpeg');
    expect(servedContentType('text/plain')).toBe('text/plain; charset=utf-8');
    expect(servedContentType('image/png')).toBe('image/png');
  });

  it('lets a text cut in the middle of a character by the range pass, but not a whole file that ends broken', () => {
    const cut = Buffer.from('naïve café 🚰', 'utf8').subarray(0, -2);
    expect(matchesContentType('text/plain', cut, false)).toBe(true);
    expect(matchesContentType('text/plain', cut, true)).toBe(false);
  });

  it('tells markup from text that merely mentions it', () => {
    for (const markup of [
      '<a href=x>',
      '<b>bold</b>',
      '<svg/onload=alert(1)>',
      '<html/>',
      '<script/src=//x>',
      '<x:html xmlns:x="http://www.w3.org/1999/xhtml">',
      '<rss version="2.0">',
      '</p>',
      '<!-- x -->',
      '<?xml version="1.0"?>',
      '\uFEFF \n\t<HTML>',
    ])
      expect(looksLikeMarkup(markup), markup).toBe(true);
    expect(looksLikeMarkup('<3 thanks')).toBe(false);
    expect(looksLikeMarkup('< 5 minutes')).toBe(false);
    expect(looksLikeMarkup('price < 5 <b>')).toBe(false);
  });

  it('can check every default type', () => {
    for (const type of defaultAttachmentContentTypes) expect(checkableContentTypes).toContain(type);
  });
});

describe('attachment keys and downloads', () => {
  const conversation = '0b0e7c9e-6a0e-4a43-9d1d-2f0ad0d6a001';
  const attachment = '5d7e3b1c-1111-4c1e-8a66-3f1e2c0d9b02';

  it('reads the ids back from an S3 event key, and nothing from other keys', () => {
    expect(parseAttachmentKey(`attachments/${conversation}/${attachment}`)).toEqual({
      conversationId: conversation,
      attachmentId: attachment,
    });
    expect(parseAttachmentKey(`attachments%2F${conversation}%2F${attachment}`)).not.toBeNull();
    expect(parseAttachmentKey(`other/${conversation}/${attachment}`)).toBeNull();
    expect(parseAttachmentKey(`attachments/${conversation}/${attachment}/../x`)).toBeNull();
    expect(parseAttachmentKey('attachments/%E0%A4%A')).toBeNull();
    // Keys are made in lower case whatever case a client typed an id in.
    expect(attachmentKey(conversation.toUpperCase(), attachment.toUpperCase())).toBe(
      `attachments/${conversation}/${attachment}`,
    );
  });

  it('names the file in Content-Disposition safely, with the exact name in UTF-8', () => {
    expect(contentDisposition({ filename: 'quote "final".pdf', contentType: 'application/pdf', inline: false })).toBe(
      `attachment; filename="quote _final_.pdf"; filename*=UTF-8''quote%20%22final%22.pdf`,
    );
    expect(contentDisposition({ filename: 'Spüle (1).png', contentType: 'image/png', inline: true })).toBe(
      `inline; filename="Sp_le (1).png"; filename*=UTF-8''Sp%C3%BCle%20%281%29.png`,
    );
  });
});
