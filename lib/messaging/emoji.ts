/**
 * A reaction is one emoji: a single extended grapheme cluster that is an emoji as Unicode
 * recommends it for general interchange (RGI), skin tones, flags, keycaps and ZWJ sequences
 * included (`\p{RGI_Emoji}`, a property of strings of the `v` flag, from Unicode's own data).
 */
const oneEmoji = /^\p{RGI_Emoji}$/v;

/** RGI emoji are at most 10 code points (family ZWJ sequences with skin tones); the limit keeps the row small. */
export const MAX_EMOJI_CODE_UNITS = 32;

export function isSingleEmoji(value: string): boolean {
  return value.length <= MAX_EMOJI_CODE_UNITS && oneEmoji.test(value);
}
