/**
 * The embedded transformer (transformer.ts) as ONNX graphs for onnxruntime: the same functions
 * (RMSNorm, rotary, SwiGLU, causal attention with a key mask, tied embeddings, patch encoder),
 * with the backward pass written out by hand, layer by layer, as llm.c does (onnxruntime-node has
 * no autodiff). Each forward piece returns what its backward reuses.
 *
 * Graphs (all with symbolic batch B and length T, so one session serves every shape):
 * - "logprobs": per-token log-prob of the targets [B, T] (scoring; GRPO's old/ref log-probs) and
 *   the token entropy of the predicted distribution [B, T].
 * - "train": the same plus the gradient of sum(weights * logp) for every parameter (the token
 *   embedding's input rows come out separately as "tokenGrad", added on the host). With
 *   weights = -mask / tokens this is the masked-mean NLL (pretraining, SFT); GRPO passes its
 *   loss's gradient with respect to logp (a chain rule through the per-token log-probs).
 * - "prefill": keys/values of every layer [B, H, T, hd] and the last position's logits [B, V].
 * - "decode": one token per row against a cache [B, H, S, hd] of any length S (ort/engine.ts
 *   feeds only the part filled so far, rounded up to a chunk).
 * Input and parameter names are the checkpoint's dotted names (params.ts paramShapes).
 */
import { GraphBuilder, type Dim } from "./onnx";
import { imageTokens, patchDim, type ModelConfig } from "../config";
import { paramShapes } from "../params";

const NEG = 1e9; // additive mask magnitude, as transformer.ts
const MS = "com.microsoft";

export type LmGraphKind = "logprobs" | "train" | "prefill" | "decode";

interface Ctx {
  g: GraphBuilder;
  c: ModelConfig;
  H: number;
  hd: number;
  d: number;
}

/** y = x W for x [.., in], W [in, out]; backward: gx = gy W^T, gW = x^T gy (over all rows). */
function linear(cx: Ctx, x: string, w: string): string {
  return cx.g.op("MatMul", [x, w]);
}

function linearBack(cx: Ctx, x: string, w: string, gy: string, inDim: number, outDim: number): { gx: string; gw: string } {
  const { g } = cx;
  const gx = g.op("FusedMatMul", [gy, w], { transB: 1 }, MS);
  const x2 = g.op("Reshape", [x, g.ints([-1, inDim])]);
  const gy2 = g.op("Reshape", [gy, g.ints([-1, outDim])]);
  const gw = g.op("Gemm", [x2, gy2], { transA: 1 });
  return { gx, gw };
}

/** RMSNorm over the last axis: h = x * rsqrt(mean(x^2) + eps) * w. */
function rmsNorm(cx: Ctx, x: string, w: string): { h: string; xn: string; r: string } {
  const { g } = cx;
  const ms = g.op("ReduceMean", [g.op("Mul", [x, x])], { axes: [-1], keepdims: 1 });
  const r = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [ms, g.scalar(cx.c.normEps)])])]);
  const xn = g.op("Mul", [x, r]);
  return { h: g.op("Mul", [xn, w]), xn, r };
}

/** gx = r (gxn - xn mean(gxn * xn)), gxn = gh w; gw = sum over rows of gh * xn. */
function rmsNormBack(cx: Ctx, s: { xn: string; r: string }, w: string, gh: string, sumAxes: number[]): { gx: string; gw: string } {
  const { g } = cx;
  const gw = g.op("ReduceSum", [g.op("Mul", [gh, s.xn]), g.ints(sumAxes)], { keepdims: 0 });
  const gxn = g.op("Mul", [gh, w]);
  const dot = g.op("ReduceMean", [g.op("Mul", [gxn, s.xn])], { axes: [-1], keepdims: 1 });
  const gx = g.op("Mul", [s.r, g.op("Sub", [gxn, g.op("Mul", [s.xn, dot])])]);
  return { gx, gw };
}

/** Rotate-half rotary embedding of x [B, H, T, hd] with tables [T, hd/2]. */
function rope(cx: Ctx, x: string, cos: string, sin: string): string {
  const { g } = cx;
  const [x1, x2] = g.opN("Split", [x], 2, { axis: 3 });
  const a = g.op("Sub", [g.op("Mul", [x1, cos]), g.op("Mul", [x2, sin])]);
  const b = g.op("Add", [g.op("Mul", [x1, sin]), g.op("Mul", [x2, cos])]);
  return g.op("Concat", [a, b], { axis: 3 });
}

/** The transpose of rope's linear map: gx1 = g1 cos + g2 sin, gx2 = g2 cos - g1 sin. */
function ropeBack(cx: Ctx, gy: string, cos: string, sin: string): string {
  const { g } = cx;
  const [g1, g2] = g.opN("Split", [gy], 2, { axis: 3 });
  const a = g.op("Add", [g.op("Mul", [g1, cos]), g.op("Mul", [g2, sin])]);
  const b = g.op("Sub", [g.op("Mul", [g2, cos]), g.op("Mul", [g1, sin])]);
  return g.op("Concat", [a, b], { axis: 3 });
}

/** [B, T, d] -> [B, H, T, hd] and back. */
function splitHeads(cx: Ctx, x: string): string {
  return cx.g.op("Transpose", [cx.g.op("Reshape", [x, cx.g.ints([0, 0, cx.H, cx.hd])])], { perm: [0, 2, 1, 3] });
}

function mergeHeads(cx: Ctx, x: string): string {
  return cx.g.op("Reshape", [cx.g.op("Transpose", [x], { perm: [0, 2, 1, 3] }), cx.g.ints([0, 0, cx.d])]);
}

interface Tables {
  cos: string;
  sin: string;
}

/** Full causal self-attention (training, scoring, prefill). bias [B, 1, T, T] additive. */
function attention(cx: Ctx, q: string, k: string, v: string, bias: string) {
  const { g } = cx;
  const alpha = 1 / Math.sqrt(cx.hd);
  const S = g.op("Add", [g.op("FusedMatMul", [q, k], { transB: 1, alpha: { float: alpha } }, MS), bias]);
  const P = g.op("Softmax", [S], { axis: -1 });
  return { att: g.op("MatMul", [P, v]), P };
}

/** Softmax-attention backward: dS = P (dP - rowsum(dP P)); q, k get alpha dS k and alpha dS^T q. */
function attentionBack(cx: Ctx, s: { P: string; q: string; k: string; v: string }, gAtt: string) {
  const { g } = cx;
  const alpha = 1 / Math.sqrt(cx.hd);
  const gP = g.op("FusedMatMul", [gAtt, s.v], { transB: 1 }, MS);
  const gv = g.op("FusedMatMul", [s.P, gAtt], { transA: 1 }, MS);
  const rs = g.op("ReduceSum", [g.op("Mul", [gP, s.P]), g.ints([-1])], { keepdims: 1 });
  const gS = g.op("Mul", [s.P, g.op("Sub", [gP, rs])]);
  const gq = g.op("FusedMatMul", [gS, s.k], { alpha: { float: alpha } }, MS);
  const gk = g.op("FusedMatMul", [gS, s.q], { transA: 1, alpha: { float: alpha } }, MS);
  return { gq, gk, gv };
}

/** Attention of one layer over rotated queries and keys and values [B, H, T, hd]: full causal (attention) or against the cache (decode). */
type Attend = (q: string, k: string, v: string) => { att: string; P?: string };

/** One block; returns the new residual, the layer's rotated keys and values, and what backward needs. */
function block(cx: Ctx, l: number, x: string, t: Tables, attend: Attend) {
  const { g } = cx;
  const P = (n: string) => `layers.${l}.${n}`;
  const n1 = rmsNorm(cx, x, P("attnNorm"));
  const [q0, k0, v0] = g.opN("Split", [linear(cx, n1.h, P("wqkv"))], 3, { axis: 2 });
  const q = rope(cx, splitHeads(cx, q0), t.cos, t.sin);
  const k = rope(cx, splitHeads(cx, k0), t.cos, t.sin);
  const v = splitHeads(cx, v0);
  const a = attend(q, k, v);
  const a2 = mergeHeads(cx, a.att);
  const y = g.op("Add", [x, linear(cx, a2, P("wo"))]);
  const n2 = rmsNorm(cx, y, P("mlpNorm"));
  const [gate, up] = g.opN("Split", [linear(cx, n2.h, P("wGateUp"))], 2, { axis: 2 });
  const sg = g.op("Sigmoid", [gate]);
  const silu = g.op("Mul", [gate, sg]);
  const m = g.op("Mul", [silu, up]);
  const out = g.op("Add", [y, linear(cx, m, P("wDown"))]);
  // P: full attention returns it; decode (no backward) does not.
  return { out, k, v, saved: { n1, q, k, v, P: a.P!, a2, n2, gate, up, sg, silu, m } };
}

type Saved = ReturnType<typeof block>["saved"];

function blockBack(cx: Ctx, l: number, s: Saved, gOut: string, t: Tables, grads: Record<string, string>): string {
  const { g, d, c } = cx;
  const f = c.dMlp;
  const P = (n: string) => `layers.${l}.${n}`;
  // MLP branch: out = y + m Wdown, m = silu(gate) * up.
  const down = linearBack(cx, s.m, P("wDown"), gOut, f, d);
  grads[P("wDown")] = down.gw;
  const gSilu = g.op("Mul", [down.gx, s.up]);
  const gUp = g.op("Mul", [down.gx, s.silu]);
  // d silu / d gate = sg (1 + gate (1 - sg))
  const dSilu = g.op("Mul", [s.sg, g.op("Add", [g.scalar(1), g.op("Mul", [s.gate, g.op("Sub", [g.scalar(1), s.sg])])])]);
  const gGu = g.op("Concat", [g.op("Mul", [gSilu, dSilu]), gUp], { axis: 2 });
  const gu = linearBack(cx, s.n2.h, P("wGateUp"), gGu, d, 2 * f);
  grads[P("wGateUp")] = gu.gw;
  const n2 = rmsNormBack(cx, s.n2, P("mlpNorm"), gu.gx, [0, 1]);
  grads[P("mlpNorm")] = n2.gw;
  const gY = g.op("Add", [gOut, n2.gx]);
  // Attention branch: y = x + merge(att) Wo.
  const wo = linearBack(cx, s.a2, P("wo"), gY, d, d);
  grads[P("wo")] = wo.gw;
  const att = attentionBack(cx, { P: s.P, q: s.q, k: s.k, v: s.v }, splitHeads(cx, wo.gx));
  const gQ = mergeHeads(cx, ropeBack(cx, att.gq, t.cos, t.sin));
  const gK = mergeHeads(cx, ropeBack(cx, att.gk, t.cos, t.sin));
  const gV = mergeHeads(cx, att.gv);
  const gQkv = g.op("Concat", [gQ, gK, gV], { axis: 2 });
  const qkv = linearBack(cx, s.n1.h, P("wqkv"), gQkv, d, 3 * d);
  grads[P("wqkv")] = qkv.gw;
  const n1 = rmsNormBack(cx, s.n1, P("attnNorm"), qkv.gx, [0, 1]);
  grads[P("attnNorm")] = n1.gw;
  return g.op("Add", [gY, n1.gx]);
}

function declareParams(cx: Ctx): void {
  for (const [name, shape] of Object.entries(paramShapes(cx.c))) cx.g.input(name, "float32", shape);
}

/** Token embeddings with image positions replaced by the patch encoder's output. */
function embedInputs(cx: Ctx) {
  const { g, c, d } = cx;
  const nTok = imageTokens(c);
  const tokens = g.input("tokens", "int32", ["B", "T"]);
  const patches = g.input("patches", "float32", ["R", patchDim(c)]);
  const imageIndex = g.input("imageIndex", "int32", ["B", "T"]);
  const isImage = g.input("isImage", "float32", ["B", "T", 1]);
  const tok64 = g.op("Cast", [tokens], { to: 7 });
  const img64 = g.op("Cast", [imageIndex], { to: 7 });
  const tokEmb = g.op("Gather", ["embed", tok64], { axis: 0 });
  const pe = g.op("Add", [g.op("MatMul", [patches, "patchW"]), "patchB"]);
  const pe2 = g.op("Reshape", [g.op("Add", [g.op("Reshape", [pe, g.ints([-1, nTok, d])]), "patchPos"]), g.ints([-1, d])]);
  const img = g.op("Gather", [pe2, img64], { axis: 0 });
  const notImg = g.op("Sub", [g.scalar(1), isImage]);
  const x = g.op("Add", [g.op("Mul", [tokEmb, notImg]), g.op("Mul", [img, isImage])]);
  return { x, tok64, img64, patches, pe2, isImage, notImg };
}

/**
 * Embedding backward. Deterministic on purpose: onnxruntime's ScatterND with reduction "add" sums
 * colliding rows in a thread-dependent order (measured: the embedding gradient differed bit-wise
 * between identical runs), so repeated tokens would make training irreproducible. The token rows'
 * gradients leave the graph as "tokenGrad" [B*T, d] and are added into the embedding gradient on
 * the host (lm.ts), as grad.ts does for jax-js; the few image rows use a one-hot matmul.
 */
function embedBack(cx: Ctx, e: ReturnType<typeof embedInputs>, gx: string, gEmbedHead: string, grads: Record<string, string>): string {
  const { g, c, d } = cx;
  const rows = (t: string) => g.op("Reshape", [t, g.ints([-1, d])]);
  grads.embed = gEmbedHead;
  const nRows = g.op("Slice", [g.op("Shape", [e.pe2]), g.ints([0]), g.ints([1])]);
  const onehot = g.op("OneHot", [g.op("Reshape", [e.img64, g.ints([-1])]), nRows, g.const("float32", [0, 1])], { axis: -1 }); // [B*T, R]
  const gPe = g.op("Gemm", [onehot, rows(g.op("Mul", [gx, e.isImage]))], { transA: 1 });
  grads.patchB = g.op("ReduceSum", [gPe, g.ints([0])], { keepdims: 0 });
  grads.patchPos = g.op("ReduceSum", [g.op("Reshape", [gPe, g.ints([-1, imageTokens(c), d])]), g.ints([0])], { keepdims: 0 });
  grads.patchW = g.op("Gemm", [e.patches, gPe], { transA: 1 });
  return rows(g.op("Mul", [gx, e.notImg]));
}

/** Causal + key-padding additive bias [B, 1, T, T] from keyMask [B, T] and T from the tables. */
function causalBias(cx: Ctx, keyMask: string, cos: string): string {
  const { g } = cx;
  const T = g.op("Slice", [g.op("Shape", [cos]), g.ints([0]), g.ints([1])]);
  const ones = g.op("Add", [g.op("ConstantOfShape", [g.op("Concat", [T, T], { axis: 0 })]), g.scalar(1)]);
  const tri = g.op("Trilu", [ones], { upper: 0 });
  const km = g.op("Unsqueeze", [keyMask, g.ints([1, 2])]);
  return g.op("Mul", [g.op("Sub", [g.op("Mul", [tri, km]), g.scalar(1)]), g.scalar(NEG)]);
}

/** Build one of the graphs (see the module comment). */
export function buildLmGraph(c: ModelConfig, kind: Exclude<LmGraphKind, "decode">): Uint8Array {
  const H = c.nHeads;
  const d = c.dModel;
  const hd = d / H;
  const half = hd / 2;
  const g = new GraphBuilder(`lm_${kind}`);
  const cx: Ctx = { g, c, H, hd, d };
  declareParams(cx);
  const e = embedInputs(cx);
  const keyMask = g.input("keyMask", "float32", ["B", "T"]);
  const t: Tables = { cos: g.input("cos", "float32", ["T", half]), sin: g.input("sin", "float32", ["T", half]) };
  const bias = causalBias(cx, keyMask, t.cos);
  let x = e.x;
  const saved: Saved[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const b = block(cx, l, x, t, (q, k, v) => attention(cx, q, k, v, bias));
    saved.push(b.saved);
    if (kind === "prefill") {
      g.output(b.k, `k.${l}`, "float32", ["B", H, "T", hd]);
      g.output(b.v, `v.${l}`, "float32", ["B", H, "T", hd]);
    }
    x = b.out;
  }
  const fin = rmsNorm(cx, x, "finalNorm");
  if (kind === "prefill") {
    const last = g.op("Slice", [fin.h, g.ints([-1]), g.ints([Number.MAX_SAFE_INTEGER]), g.ints([1])]);
    const logits = g.op("FusedMatMul", [last, "embed"], { transB: 1 }, MS);
    g.output(g.op("Squeeze", [logits, g.ints([1])]), "logits", "float32", ["B", c.vocabSize]);
    return g.encode();
  }
  // log p(target) = logit[target] - logsumexp(logits).
  const targets = g.input("targets", "int32", ["B", "T"]);
  const idx = g.op("Unsqueeze", [g.op("Cast", [targets], { to: 7 }), g.ints([2])]);
  const logits = g.op("FusedMatMul", [fin.h, "embed"], { transB: 1 }, MS);
  const lse = g.op("ReduceLogSumExp", [logits], { axes: [-1], keepdims: 1 });
  const picked = g.op("GatherElements", [logits, idx], { axis: 2 });
  g.output(g.op("Squeeze", [g.op("Sub", [picked, lse]), g.ints([2])]), "logp", "float32", ["B", "T"]);
  // Token entropy -sum p log p = lse - sum p * logit (GRPO logs it; not differentiated here).
  const probs = g.op("Exp", [g.op("Sub", [logits, lse])]);
  const pz = g.op("ReduceSum", [g.op("Mul", [probs, logits]), g.ints([-1])], { keepdims: 1 });
  g.output(g.op("Squeeze", [g.op("Sub", [lse, pz]), g.ints([2])]), "entropy", "float32", ["B", "T"]);
  if (kind === "logprobs") return g.encode();

  // Backward of sum(w * logp): d/dlogits = w (onehot(target) - softmax(logits)).
  const grads: Record<string, string> = {};
  const w = g.op("Unsqueeze", [g.input("weights", "float32", ["B", "T"]), g.ints([2])]);
  const gLogits = g.op("ScatterElements", [g.op("Mul", [probs, g.op("Neg", [w])]), idx, w], { axis: 2, reduction: "add" });
  const gHf = g.op("MatMul", [gLogits, "embed"]);
  const gEmbedHead = g.op("Gemm", [g.op("Reshape", [gLogits, g.ints([-1, c.vocabSize])]), g.op("Reshape", [fin.h, g.ints([-1, d])])], { transA: 1 });
  const fb = rmsNormBack(cx, fin, "finalNorm", gHf, [0, 1]);
  grads.finalNorm = fb.gw;
  let gx = fb.gx;
  for (let l = c.nLayers - 1; l >= 0; l--) gx = blockBack(cx, l, saved[l], gx, t, grads);
  const tokenGrad = embedBack(cx, e, gx, gEmbedHead, grads);
  g.output(tokenGrad, "tokenGrad", "float32", ["BT", d]);
  for (const [name, shape] of Object.entries(paramShapes(c))) g.output(grads[name], `grad.${name}`, "float32", shape as Dim[]);
  return g.encode();
}

/**
 * One decoding step: token [B] at position p (tables [1, hd/2]) attends over a cache
 * [B, H, S, hd] per layer, S symbolic (pastMask [B, S]: 1 for keys to attend to) and over itself. Outputs
 * logits [B, V] and the token's rotated key and value per layer [B, H, 1, hd], which the caller
 * writes into the cache at position p.
 */
export function buildDecodeGraph(c: ModelConfig): Uint8Array {
  const H = c.nHeads;
  const d = c.dModel;
  const hd = d / H;
  const g = new GraphBuilder("lm_decode");
  const cx: Ctx = { g, c, H, hd, d };
  declareParams(cx);
  const token = g.input("token", "int32", ["B"]);
  const t: Tables = { cos: g.input("cos", "float32", [1, hd / 2]), sin: g.input("sin", "float32", [1, hd / 2]) };
  const pastMask = g.input("pastMask", "float32", ["B", "S"]);
  const bias = g.op("Unsqueeze", [g.op("Mul", [g.op("Sub", [pastMask, g.scalar(1)]), g.scalar(NEG)]), g.ints([1, 2])]); // [B,1,1,S]
  let x = g.op("Gather", ["embed", g.op("Unsqueeze", [g.op("Cast", [token], { to: 7 }), g.ints([1])])], { axis: 0 }); // [B,1,d]
  const alpha = 1 / Math.sqrt(hd);
  for (let l = 0; l < c.nLayers; l++) {
    const pk = g.input(`pastK.${l}`, "float32", ["B", H, "S", hd]);
    const pv = g.input(`pastV.${l}`, "float32", ["B", H, "S", hd]);
    // One softmax over [past keys, own key]: exact, without writing the cache inside the graph.
    const b = block(cx, l, x, t, (q, k, v) => {
      const sPast = g.op("Add", [g.op("FusedMatMul", [q, pk], { transB: 1, alpha: { float: alpha } }, MS), bias]);
      const sSelf = g.op("Mul", [g.op("ReduceSum", [g.op("Mul", [q, k]), g.ints([-1])], { keepdims: 1 }), g.scalar(alpha)]);
      const probs = g.op("Softmax", [g.op("Concat", [sPast, sSelf], { axis: 3 })], { axis: -1 });
      // The last column is the token's own key; everything before it the cache's S positions.
      const pPast = g.op("Slice", [probs, g.ints([0]), g.ints([-1]), g.ints([3])]);
      const pSelf = g.op("Slice", [probs, g.ints([-1]), g.ints([2 ** 31 - 1]), g.ints([3])]);
      return { att: g.op("Add", [g.op("MatMul", [pPast, pv]), g.op("Mul", [pSelf, v])]) };
    });
    g.output(b.k, `k.${l}`, "float32", ["B", H, 1, hd]);
    g.output(b.v, `v.${l}`, "float32", ["B", H, 1, hd]);
    x = b.out;
  }
  const fin = rmsNorm(cx, x, "finalNorm");
  const logits = g.op("FusedMatMul", [fin.h, "embed"], { transB: 1 }, MS);
  g.output(g.op("Squeeze", [logits, g.ints([1])]), "logits", "float32", ["B", c.vocabSize]);
  return g.encode();
}
