/**
 * The difficulty filter of the published recipe (recipe.md "Difficulty filtering";
 * upstream data_process/train_dataset/order_easy_to_hard.py):
 *   keep items whose pass count (correct answers out of k = 16 samples) is in [1, 7],
 *   shuffle with seed 42, then stable-sort by pass count descending (easy to hard).
 *
 * Upstream shuffles with Hugging Face `datasets.Dataset.shuffle(seed=42)`, which is
 * `numpy.random.default_rng(42).permutation(len(dataset))` (PCG64 seeded through
 * SeedSequence; not Python's `random`), then `Dataset.sort("pass_count", reverse=True)`,
 * which is pyarrow's `sort_indices` (documented as a stable sort). `numpyPermutation`
 * below reimplements that numpy generator, so the order here is the upstream order,
 * element for element (tests compare with values printed by numpy 1.24 and 2.4).
 */

/** Published pass-count histogram (Qwen2.5-VL-7B, m23k, n = 23,456), index = correct of 16. */
export const PUBLISHED_PASS_COUNT_HISTOGRAM_7B: readonly number[] = Object.freeze([
  8123, 4604, 3012, 2174, 1593, 1109, 811, 616, 455, 333, 218, 160, 109, 80, 39, 17, 3,
]);
/** Samples per item behind the published histogram. */
export const PUBLISHED_PASS_COUNT_K = 16;
/** Items behind the published histogram. */
export const PUBLISHED_PASS_COUNT_N = 23456;

/** Upstream defaults: --remove_pass_count_below 1, --remove_pass_count_above 7. */
export const DEFAULT_PASS_COUNT_RANGE: PassCountRange = Object.freeze({ min: 1, max: 7 });
/** Upstream default --seed. */
export const DEFAULT_ORDER_SEED = 42;

export interface PassCountRange {
  /** Smallest pass count kept (inclusive). */
  min: number;
  /** Largest pass count kept (inclusive). */
  max: number;
}

/** Anything carrying a pass count; upstream uses -1 for "not evaluated". */
export interface WithPassCount {
  passCount: number;
}

/**
 * Counts of items by pass count: result[c] = number of items with c correct of k.
 * Throws on a count that is not an integer in [0, k], naming its position.
 */
export function passCountHistogram(counts: readonly number[], k: number): number[] {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`passCountHistogram: k must be a non-negative integer, got ${k}`);
  const hist = new Array<number>(k + 1).fill(0);
  counts.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c > k) {
      throw new RangeError(`passCountHistogram: counts[${i}] = ${c} is not an integer in [0, ${k}]`);
    }
    hist[c] += 1;
  });
  return hist;
}

/**
 * Keep items with min <= passCount <= max (upstream `filter_pass_count`), in input order.
 * Items without an evaluation (passCount -1 upstream) fall below any min >= 0 and are dropped.
 */
export function filterByPassCount<T extends WithPassCount>(
  items: readonly T[],
  range: PassCountRange = DEFAULT_PASS_COUNT_RANGE,
): T[] {
  if (!Number.isFinite(range.min) || !Number.isFinite(range.max) || range.min > range.max) {
    throw new RangeError(`filterByPassCount: invalid range [${range.min}, ${range.max}]`);
  }
  return items.filter((item) => item.passCount >= range.min && item.passCount <= range.max);
}

export type DifficultyOrder = "easy_to_hard" | "hard_to_easy";

/**
 * Upstream ordering: shuffle (numpy `default_rng(seed).permutation`, as `Dataset.shuffle`),
 * then a stable sort by passCount, descending for "easy_to_hard" (the default) or ascending
 * for "hard_to_easy". Items with equal pass counts keep their shuffled order. Returns a new
 * array; the input is not modified.
 */
export function orderEasyToHard<T extends WithPassCount>(
  items: readonly T[],
  seed: number = DEFAULT_ORDER_SEED,
  order: DifficultyOrder = "easy_to_hard",
): T[] {
  if (order !== "easy_to_hard" && order !== "hard_to_easy") {
    throw new RangeError(`orderEasyToHard: order must be "easy_to_hard" or "hard_to_easy", got ${JSON.stringify(order)}`);
  }
  items.forEach((item, i) => {
    if (!Number.isFinite(item.passCount)) throw new RangeError(`orderEasyToHard: items[${i}].passCount is ${item.passCount}`);
  });
  const permutation = numpyPermutation(items.length, seed);
  const shuffled = Array.from(permutation, (j) => items[j]);
  const sign = order === "easy_to_hard" ? -1 : 1;
  // Array.prototype.sort is stable (ES2019), as pyarrow's sort_indices.
  return shuffled.sort((a, b) => sign * (a.passCount - b.passCount));
}

/**
 * The whole upstream step: filter to the pass-count range, then order. Returns the kept
 * items in training order.
 */
export function curateByDifficulty<T extends WithPassCount>(
  items: readonly T[],
  options: { range?: PassCountRange; seed?: number; order?: DifficultyOrder } = {},
): T[] {
  return orderEasyToHard(filterByPassCount(items, options.range), options.seed, options.order);
}

// ---------------------------------------------------------------------------------------
// numpy's default_rng(seed).permutation(n): SeedSequence -> PCG64 -> Fisher-Yates with
// masked rejection sampling (numpy `random_interval`). Reimplemented from the published
// algorithms (O'Neill's PCG XSL-RR 128/64, numpy's SeedSequence hash mixing).
// ---------------------------------------------------------------------------------------

const MASK32 = 0xffffffff;
const MASK64 = (1n << 64n) - 1n;
const MASK128 = (1n << 128n) - 1n;
const PCG_MULT = (0x2360ed051fc65da4n << 64n) | 0x4385df649fccf645n;

const mul32 = (a: number, b: number): number => Math.imul(a, b) >>> 0;

/** numpy SeedSequence(entropy).generate_state(nWords) for a non-negative integer seed, no spawn key. */
export function seedSequenceState(seed: number, nWords: number): number[] {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seedSequenceState: seed must be a non-negative safe integer, got ${seed}`);
  // The seed as little-endian 32-bit words (numpy _coerce_to_uint32_array).
  const entropy: number[] = [];
  let rest = BigInt(seed);
  do {
    entropy.push(Number(rest & 0xffffffffn));
    rest >>= 32n;
  } while (rest > 0n);

  const POOL = 4;
  const XSHIFT = 16;
  let hashConst = 0x43b0d7e5; // INIT_A
  const hashmix = (value: number): number => {
    let v = (value ^ hashConst) >>> 0;
    hashConst = mul32(hashConst, 0x931e8875); // MULT_A
    v = mul32(v, hashConst);
    return (v ^ (v >>> XSHIFT)) >>> 0;
  };
  const mix = (x: number, y: number): number => {
    const r = (mul32(0xca01f9dd, x) - mul32(0x4973f715, y)) >>> 0; // MIX_MULT_L, MIX_MULT_R
    return (r ^ (r >>> XSHIFT)) >>> 0;
  };
  const pool = Array.from({ length: POOL }, (_, i) => hashmix(i < entropy.length ? entropy[i] : 0));
  for (let src = 0; src < POOL; src++) {
    for (let dst = 0; dst < POOL; dst++) if (src !== dst) pool[dst] = mix(pool[dst], hashmix(pool[src]));
  }
  for (let src = POOL; src < entropy.length; src++) {
    for (let dst = 0; dst < POOL; dst++) pool[dst] = mix(pool[dst], hashmix(entropy[src]));
  }

  let hashB = 0x8b51f9dd; // INIT_B
  const state: number[] = [];
  for (let i = 0; i < nWords; i++) {
    let v = (pool[i % POOL] ^ hashB) >>> 0;
    hashB = mul32(hashB, 0x58f38ded); // MULT_B
    v = mul32(v, hashB);
    state.push((v ^ (v >>> XSHIFT)) >>> 0);
  }
  return state;
}

/** numpy PCG64 bit generator seeded like `np.random.PCG64(seed)` / `default_rng(seed)`. */
export class NumpyPcg64 {
  private state: bigint;
  private readonly inc: bigint;
  private spare: number | null = null;

  constructor(seed: number) {
    const w = seedSequenceState(seed, 8).map(BigInt);
    // generate_state(4, uint64): words pair up little-endian; seed = s0:s1, inc = s2:s3 (high:low).
    const u64 = [0, 1, 2, 3].map((i) => w[2 * i] | (w[2 * i + 1] << 32n));
    const initState = (u64[0] << 64n) | u64[1];
    const initSeq = (u64[2] << 64n) | u64[3];
    this.inc = ((initSeq << 1n) | 1n) & MASK128;
    this.state = 0n;
    this.step();
    this.state = (this.state + initState) & MASK128;
    this.step();
  }

  private step(): void {
    this.state = (this.state * PCG_MULT + this.inc) & MASK128;
  }

  /** Next 64-bit output (XSL-RR), as numpy's `random_raw`. */
  nextUint64(): bigint {
    this.step();
    const xored = ((this.state >> 64n) ^ this.state) & MASK64;
    const rot = this.state >> 122n;
    return ((xored >> rot) | (xored << ((64n - rot) & 63n))) & MASK64;
  }

  /** numpy's next_uint32 for PCG64: low half of a 64-bit draw, then its high half. */
  nextUint32(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const next = this.nextUint64();
    this.spare = Number(next >> 32n);
    return Number(next & 0xffffffffn);
  }

  /** numpy `random_interval(max)`: uniform integer in [0, max] by masked rejection. */
  interval(max: number): number {
    if (max === 0) return 0;
    if (max > MASK32) throw new RangeError(`NumpyPcg64.interval: max ${max} above 2^32 - 1 is not supported`);
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let value: number;
    do value = (this.nextUint32() & mask) >>> 0;
    while (value > max);
    return value;
  }
}

/** `numpy.random.default_rng(seed).permutation(n)`, element for element. */
export function numpyPermutation(n: number, seed: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`numpyPermutation: n must be a non-negative integer, got ${n}`);
  const out = Array.from({ length: n }, (_, i) => i);
  const rng = new NumpyPcg64(seed);
  // numpy Generator.shuffle on a 1-d array: for i = n-1 down to 1, swap i with random_interval(i).
  for (let i = n - 1; i >= 1; i--) {
    const j = rng.interval(i);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}
