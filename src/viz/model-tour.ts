/**
 * What notebook 00 shows about the embedded model: its shape and parameter budget, how the fitted
 * tokenizer cuts a sentence, the warm-up loss curve from metrics.jsonl, plain-text continuations
 * (no chat markers: what a pretrained language model does), and the check that a saved and
 * reloaded checkpoint gives the same log-probs.
 */
import { existsSync, readFileSync } from "node:fs";
import { imageTokens, type ModelConfig } from "../model/config";
import type { EmbeddedModel } from "../model/model";
import { paramShapes } from "../model/params";
import { Sampler } from "../model/sampler";
import type { TextTokenizer } from "../model/tokenizer";
import type { Figure, Trace } from "./plotly";

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Parameters per part of the model (token embeddings, image encoder, attention, MLP, norms). */
export function parameterRows(c: ModelConfig): { part: string; parameters: number; share: number }[] {
  const parts: Record<string, number> = { "token embeddings (tied with the output head)": 0, "image patch encoder": 0, attention: 0, "SwiGLU MLP": 0, "RMSNorm gains": 0 };
  for (const [name, shape] of Object.entries(paramShapes(c))) {
    const n = size(shape);
    if (name === "embed") parts["token embeddings (tied with the output head)"] += n;
    else if (name.startsWith("patch")) parts["image patch encoder"] += n;
    else if (/\.(wqkv|wo)$/.test(name)) parts.attention += n;
    else if (/\.(wGateUp|wDown)$/.test(name)) parts["SwiGLU MLP"] += n;
    else parts["RMSNorm gains"] += n;
  }
  const total = Object.values(parts).reduce((a, b) => a + b, 0);
  const rows = Object.entries(parts).map(([part, parameters]) => ({ part, parameters, share: Math.round((1000 * parameters) / total) / 10 }));
  rows.push({ part: "total", parameters: total, share: 100 });
  return rows;
}

/** The config as readable rows (setting, value, what it means). */
export function configRows(c: ModelConfig): { setting: string; value: string | number; meaning: string }[] {
  return [
    { setting: "vocabSize", value: c.vocabSize, meaning: "BPE tokens fitted to the corpus, special tokens included" },
    { setting: "dModel", value: c.dModel, meaning: "width of every token's vector" },
    { setting: "nLayers", value: c.nLayers, meaning: "transformer blocks (attention + SwiGLU MLP, RMSNorm before each)" },
    { setting: "nHeads", value: c.nHeads, meaning: `attention heads of ${c.dModel / c.nHeads} dims, rotary positions (RoPE, base ${c.ropeBase})` },
    { setting: "dMlp", value: c.dMlp, meaning: "hidden width of the SwiGLU MLP" },
    { setting: "maxSeq", value: c.maxSeq, meaning: "context in tokens, image tokens included" },
    { setting: "image", value: `${c.imageSize}x${c.imageSize} px, ${c.patchSize}x${c.patchSize} patches`, meaning: `each image becomes ${imageTokens(c)} tokens placed before the text (at most ${c.maxImages} per item)` },
  ];
}

/** Byte-level BPE shows a space as "Ġ" and a newline as "Ċ"; make them visible in a table. */
export function visiblePiece(piece: string): string {
  return piece.replace(/Ġ/g, "␣").replace(/Ċ/g, "⏎").replace(/ĉ/g, "⇥");
}

/** How the tokenizer cuts `text`: one row per token (position, id, piece). */
export function tokenRows(tok: TextTokenizer, text: string): { position: number; id: number; piece: string; special: boolean }[] {
  const enc = tok.hf.encode(text, { add_special_tokens: false });
  const specials = new Set(Object.values(tok.ids));
  return enc.ids.map((id, position) => ({ position, id, piece: visiblePiece(enc.tokens[position] ?? ""), special: specials.has(id) }));
}

/** Characters per token over some texts: how much a fitted vocabulary compresses them. */
export function charsPerToken(tok: TextTokenizer, texts: string[]): number {
  let chars = 0;
  let tokens = 0;
  for (const t of texts) {
    chars += t.length;
    tokens += tok.encode(t).length;
  }
  return tokens > 0 ? chars / tokens : NaN;
}

export interface PretrainMetric {
  step: number;
  loss: number;
  lr?: number;
  held_out_loss?: number;
  held_out_bits_per_char?: number;
  tokens_per_s?: number;
}

/** metrics.jsonl of a warm-up run (a torn last line is skipped). */
export function readPretrainMetrics(path: string): PretrainMetric[] {
  if (!existsSync(path)) return [];
  const out: PretrainMetric[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const m = JSON.parse(line) as PretrainMetric;
      if (typeof m.step === "number" && typeof m.loss === "number") out.push(m);
    } catch {
      /* torn line from a killed run */
    }
  }
  return out;
}

/** Trailing mean over `window` points (the first points average what there is). */
export function movingAverage(ys: number[], window: number): number[] {
  const out: number[] = [];
  let s = 0;
  for (let i = 0; i < ys.length; i++) {
    s += ys[i];
    if (i >= window) s -= ys[i - window];
    out.push(s / Math.min(i + 1, window));
  }
  return out;
}

/**
 * The warm-up curve: training loss per step (raw, faint, and a moving average), held-out loss
 * where measured, and the uniform-guess level ln(vocab) as a reference line.
 */
export function pretrainLossFigure(metrics: PretrainMetric[], o: { vocabSize?: number; title?: string } = {}): Figure {
  const steps = metrics.map((m) => m.step);
  const loss = metrics.map((m) => m.loss);
  const held = metrics.filter((m) => typeof m.held_out_loss === "number");
  const window = Math.max(1, Math.round(metrics.length / 25));
  // Short runs (smoke) show the raw curve only; long ones a faint raw curve under a moving mean.
  const data: Trace[] =
    window > 1
      ? [
          { type: "scatter", mode: "lines", name: "train loss (each step)", x: steps, y: loss, line: { color: "rgba(31,119,180,0.3)", width: 1 } },
          { type: "scatter", mode: "lines", name: `train loss (mean of ${window} steps)`, x: steps, y: movingAverage(loss, window), line: { color: "#1f77b4", width: 2 } },
        ]
      : [{ type: "scatter", mode: "lines", name: "train loss", x: steps, y: loss, line: { color: "#1f77b4", width: 2 } }];
  data.push({ type: "scatter", mode: "lines+markers", name: "held-out loss", x: held.map((m) => m.step), y: held.map((m) => m.held_out_loss), line: { color: "#d62728" } });
  const shapes: Record<string, unknown>[] = [];
  const annotations: Record<string, unknown>[] = [];
  if (o.vocabSize && metrics.length) {
    const level = Math.log(o.vocabSize);
    shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: level, y1: level, line: { color: "#888", dash: "dash", width: 1 } });
    annotations.push({ xref: "paper", x: 1, y: level, xanchor: "right", yanchor: "bottom", text: `uniform guess: ln ${o.vocabSize} = ${level.toFixed(2)}`, showarrow: false, font: { size: 11, color: "#666" } });
  }
  return {
    data,
    layout: {
      title: { text: o.title ?? "Warm-up (language-model pretraining) loss" },
      xaxis: { title: { text: "optimizer step" } },
      yaxis: { title: { text: "cross-entropy (nats per token)" }, rangemode: "tozero" },
      legend: { orientation: "h", y: -0.2 },
      shapes,
      annotations,
      height: 420,
    },
  };
}

export interface ContinueOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP?: number;
  seed?: number;
}

/**
 * Continue plain text, the way the warm-up trained the model (no chat markers, no images): the
 * prompt's tokens, then sampled ones until the end-of-document token or `maxNewTokens`.
 */
export async function continueText(model: EmbeddedModel, prompts: string[], o: ContinueOptions): Promise<{ prompt: string; continuation: string; tokens: number; finish: string }[]> {
  const t = model.tokenizer;
  const room = model.config.maxSeq - 1 - o.maxNewTokens;
  const seqs = prompts.map((p) => {
    const ids = t.encode(p);
    if (ids.length > room) throw new RangeError(`prompt of ${ids.length} tokens leaves no room for ${o.maxNewTokens} new ones in the context of ${model.config.maxSeq}`);
    return { ids };
  });
  const sampler = new Sampler(model.config);
  try {
    const gens = await sampler.generate(model.params, seqs, {
      maxNewTokens: o.maxNewTokens,
      temperature: o.temperature,
      topP: o.topP,
      seed: o.seed ?? 0,
      stopIds: [t.ids.end],
      padId: t.ids.pad,
      imageTokenId: t.ids.image,
      bannedIds: [t.ids.pad, t.ids.image, t.ids.user, t.ids.assistant],
    });
    return gens.map((g, i) => ({ prompt: prompts[i], continuation: t.decode(g.ids), tokens: g.ids.length, finish: g.finishReason }));
  } finally {
    sampler.dispose();
  }
}

/** How closely two sets of per-token log-probs agree (the same completions scored twice). */
export function logprobAgreement(a: number[][], b: number[][]): { sequences: number; tokens: number; maxAbsDiff: number; meanLogprobA: number; meanLogprobB: number } {
  if (a.length !== b.length) throw new RangeError(`${a.length} vs ${b.length} sequences`);
  let tokens = 0;
  let max = 0;
  let sa = 0;
  let sb = 0;
  a.forEach((row, i) => {
    if (row.length !== b[i].length) throw new RangeError(`sequence ${i}: ${row.length} vs ${b[i].length} tokens`);
    row.forEach((x, j) => {
      max = Math.max(max, Math.abs(x - b[i][j]));
      sa += x;
      sb += b[i][j];
      tokens++;
    });
  });
  return { sequences: a.length, tokens, maxAbsDiff: max, meanLogprobA: tokens ? sa / tokens : NaN, meanLogprobB: tokens ? sb / tokens : NaN };
}
