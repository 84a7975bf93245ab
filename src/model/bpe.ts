/**
 * A byte-level BPE trainer (GPT-2 style): text is split by the GPT-2 pre-tokenizer regex, each
 * piece's UTF-8 bytes are mapped to printable characters, and the most frequent adjacent pair is
 * merged until the vocabulary is full. Pair counts are updated incrementally (only words that
 * contain the merged pair are touched), so fitting a few thousand merges on a few MB takes seconds.
 * The output is the `model` section of a Hugging Face tokenizer.json (vocab + merges).
 */

/** GPT-2's pre-tokenizer pattern, as the ByteLevel pre-tokenizer (use_regex) applies it. */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's reversible byte -> printable-char table. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const table: string[] = new Array(256);
  bs.forEach((b, i) => (table[b] = String.fromCharCode(cs[i])));
  return table;
}

const BYTE_CHARS = bytesToUnicode();
const encoder = new TextEncoder();

/** A pre-tokenized piece as its byte characters. */
export function byteChars(piece: string): string[] {
  return Array.from(encoder.encode(piece), (b) => BYTE_CHARS[b]);
}

export interface BpeModel {
  vocab: Record<string, number>;
  merges: [string, string][];
}

/**
 * Fit merges so that the vocabulary holds `vocabSize` entries in total, `reserved` of which are
 * left for special tokens (appended by the caller after the BPE vocab).
 */
export function trainBpe(texts: Iterable<string>, vocabSize: number, reserved = 0): BpeModel {
  // Word frequencies.
  const freq = new Map<string, number>();
  for (const text of texts) {
    for (const m of text.matchAll(GPT2_PATTERN)) freq.set(m[0], (freq.get(m[0]) ?? 0) + 1);
  }
  // Symbols: the 256 byte chars first (ids 0..255, in byte order).
  const symbols: string[] = [...BYTE_CHARS];
  const symId = new Map<string, number>(symbols.map((s, i) => [s, i]));
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [w, c] of freq) {
    words.push(byteChars(w).map((ch) => symId.get(ch)!));
    counts.push(c);
  }
  const key = (a: number, b: number) => a * 65536 + b;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPair = (k: number, wi: number, c: number) => {
    pairCount.set(k, (pairCount.get(k) ?? 0) + c);
    let s = pairWords.get(k);
    if (!s) pairWords.set(k, (s = new Set()));
    s.add(wi);
  };
  words.forEach((w, wi) => {
    for (let i = 0; i + 1 < w.length; i++) addPair(key(w[i], w[i + 1]), wi, counts[wi]);
  });
  const merges: [string, string][] = [];
  const target = vocabSize - reserved;
  while (symbols.length < target) {
    let best = -1;
    let bestC = 1; // a pair seen once is not worth a merge
    for (const [k, c] of pairCount) {
      if (c > bestC || (c === bestC && best >= 0 && k < best)) {
        best = k;
        bestC = c;
      }
    }
    if (best < 0) break;
    const a = Math.floor(best / 65536);
    const b = best % 65536;
    const merged = symbols.length;
    symbols.push(symbols[a] + symbols[b]);
    merges.push([symbols[a], symbols[b]]);
    const affected = pairWords.get(best)!;
    pairWords.delete(best);
    pairCount.delete(best);
    for (const wi of affected) {
      const w = words[wi];
      const c = counts[wi];
      // Remove this word's old pairs, merge, add its new pairs.
      for (let i = 0; i + 1 < w.length; i++) {
        const k = key(w[i], w[i + 1]);
        if (k === best) continue;
        const n = (pairCount.get(k) ?? 0) - c;
        if (n > 0) pairCount.set(k, n);
        else pairCount.delete(k);
        pairWords.get(k)?.delete(wi);
      }
      const out: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(w[i]);
      }
      words[wi] = out;
      for (let i = 0; i + 1 < out.length; i++) addPair(key(out[i], out[i + 1]), wi, c);
    }
  }
  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => (vocab[s] = i));
  return { vocab, merges };
}
