// Text folding for name matching: two spellings of one name fold to the same key.

/** Letters that Unicode decomposition (NFKD) leaves whole; each is written as its usual Latin spelling. */
const letterSpellings: Record<string, string> = {
  "ß": "ss",
  "æ": "ae",
  "œ": "oe",
  "ø": "o",
  "đ": "d",
  "ð": "d",
  "ł": "l",
  "ħ": "h",
  "ı": "i",
  "þ": "th",
  "ŀ": "l",
};
const unspelledLetters = new RegExp(`[${Object.keys(letterSpellings).join("")}]`, "g");

// Combining marks (accents) and modifier letters such as the ʻokina in "Hawaiʻi" carry no letter of their own.
const marks = /[\p{M}\p{Lm}]/gu;
const nonAscii = /[^\x00-\x7f]/;
// "St" and "Ste" as whole words are "Saint" and "Sainte", so that "St. Louis" and "Saint Louis" fold alike.
const saintAbbreviations = /(^|[^\p{L}\p{N}])st(e?)(?![\p{L}\p{N}])/gu;
const separators = /[^\p{L}\p{N}]+/gu;

/**
 * Folds a name to its matching key: lower case, without accents, punctuation or spaces, with `St`/`Ste`
 * spelled out. "São Paulo", "SAO-PAULO!" and "sao paulo" all fold to "saopaulo". Letters of other scripts
 * are kept, so a name in Cyrillic or Japanese still matches an alternate name in that script.
 */
export function foldName(text: string): string {
  // Most names are ASCII, which decomposition leaves unchanged; skipping it halves the load time.
  const lowerCase = nonAscii.test(text)
    ? text
        .normalize("NFKD")
        .replace(marks, "")
        .toLowerCase()
        .replace(unspelledLetters, (letter) => letterSpellings[letter] ?? letter)
    : text.toLowerCase();
  return lowerCase.replace(saintAbbreviations, "$1saint$2").replace(separators, "");
}

/** Splits a value at its commas into trimmed, non-empty parts: "Paris, , TX " gives ["Paris", "TX"]. */
export function splitParts(text: string): string[] {
  const parts: string[] = [];
  for (const part of text.split(",")) {
    const trimmed = part.trim();
    if (trimmed !== "") parts.push(trimmed);
  }
  return parts;
}
