/**
 * How Qwen2.5-VL sizes an image (qwen-vl-utils `smart_resize`, the rule both verl's rollout and the
 * paper's evaluation apply) and how many prompt tokens it becomes. Python's `round` rounds halves to
 * even, so `round_by_factor` does too here; otherwise a 42-pixel side would come out 56, not 28.
 */

export const QWEN_FACTOR = 28;
export const QWEN_MIN_PIXELS = 4 * 28 * 28; // 3,136
export const QWEN_MAX_PIXELS = 16384 * 28 * 28; // 12,845,056
/** qwen-vl-utils refuses images more elongated than this. */
export const QWEN_MAX_RATIO = 200;

/** Python's round(x) for x >= 0: halves go to the even neighbour. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export interface SmartResizeOptions {
  factor?: number;
  minPixels?: number;
  maxPixels?: number;
}

/**
 * qwen-vl-utils `smart_resize(height, width)`: both sides multiples of `factor`, the area within
 * [minPixels, maxPixels], the aspect ratio kept as closely as that allows. Throws as upstream does
 * for an aspect ratio above 200.
 */
export function smartResize(height: number, width: number, opts: SmartResizeOptions = {}): { height: number; width: number } {
  const factor = opts.factor ?? QWEN_FACTOR;
  const minPixels = opts.minPixels ?? QWEN_MIN_PIXELS;
  const maxPixels = opts.maxPixels ?? QWEN_MAX_PIXELS;
  if (!(height > 0 && width > 0)) throw new RangeError(`image size must be positive, got ${width}x${height}`);
  if (Math.max(height, width) / Math.min(height, width) > QWEN_MAX_RATIO) {
    throw new RangeError(`absolute aspect ratio must be smaller than ${QWEN_MAX_RATIO}, got ${Math.max(height, width) / Math.min(height, width)}`);
  }
  let h = Math.max(factor, pyRound(height / factor) * factor);
  let w = Math.max(factor, pyRound(width / factor) * factor);
  if (h * w > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    h = Math.floor(height / beta / factor) * factor;
    w = Math.floor(width / beta / factor) * factor;
  } else if (h * w < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    h = Math.ceil((height * beta) / factor) * factor;
    w = Math.ceil((width * beta) / factor) * factor;
  }
  return { height: h, width: w };
}

/**
 * Prompt tokens one image takes in Qwen2.5-VL: (H'/28)(W'/28) `<|image_pad|>` tokens after
 * smart_resize (14-pixel patches merged 2x2), plus `<|vision_start|>` and `<|vision_end|>`.
 */
export function qwenImageTokens(height: number, width: number, opts: SmartResizeOptions = {}): number {
  const factor = opts.factor ?? QWEN_FACTOR;
  const r = smartResize(height, width, opts);
  return (r.height / factor) * (r.width / factor) + 2;
}
