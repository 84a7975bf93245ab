/**
 * Python string semantics the published reward and grader rely on (they are Python). JS `trim()`
 * and `\s` disagree with Python on a few code points: Python's whitespace adds U+001C..U+001F and
 * U+0085 and lacks U+FEFF. Reproducing them keeps our scores equal to upstream's on odd inputs.
 * Lowercasing uses JS `toLowerCase`, which equals Python `str.lower` except for code points newer
 * than Python 3.11's Unicode 14 (checked over all code points).
 */

/** Python `str.isspace` for one UTF-16 code unit (= `re` `\s` on str patterns). */
export function isPySpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
  if (c < 0x85) return false;
  return (
    c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  );
}

/** Python `s.strip()` (no argument). */
export function pyStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isPySpace(s.charCodeAt(a))) a++;
  while (b > a && isPySpace(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** Index of the first non-whitespace code unit at or after `i` (Python `\s*`). */
export function skipPySpace(s: string, i: number): number {
  while (i < s.length && isPySpace(s.charCodeAt(i))) i++;
  return i;
}

/** Python `s.strip().lower()`, the normal form every published comparison uses. */
export function norm(s: string): string {
  return pyStrip(s).toLowerCase();
}
