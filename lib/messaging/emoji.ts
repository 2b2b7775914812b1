/**
 * A reaction is one emoji: a single extended grapheme cluster that is an emoji as Unicode
 * recommends it for general interchange (RGI), skin tones, flags, keycaps and ZWJ sequences
 * included (`\p{RGI_Emoji}`, a property of strings of the `v` flag, from Unicode's own data).
 */
let oneEmoji: RegExp | undefined;

/** RGI emoji are at most 10 code points (family ZWJ sequences with skin tones); the limit keeps the row small. */
export const MAX_EMOJI_CODE_UNITS = 32;

/**
 * The pattern is built on first use: making it expands Unicode's set of RGI emoji, 7 ms that
 * every HTTP function paid at cold start (the schemas that use it are in every bundle) and only
 * the reaction routes need.
 */
export function isSingleEmoji(value: string): boolean {
  if (value.length > MAX_EMOJI_CODE_UNITS) return false;
  oneEmoji ??= /^\p{RGI_Emoji}$/v;
  return oneEmoji.test(value);
}
