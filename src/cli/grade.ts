/**
 * `medvlthinker grade <predictions.jsonl> [--json]`: regrade responses produced by any tool with the
 * published rule and print accuracy per benchmark.
 *
 * Each line holds the responses and enough to know the item. Accepted shapes:
 * - upstream eval output (eval/run_offline_inference_v2.py, run_api_inference.py, regraded files):
 *   `parsed_outputs[].output_text`, `answer_label`, `answer`, `dataset_name`, `dataset_index`, and
 *   `options` when regraded; otherwise the options are looked up in --items or parsed from `prompts`
 *   (the prompt string, or the OpenAI message list whose text part holds it);
 * - `{ item: Item, response | responses }` (options as an object or a JSON string);
 * - `{ id | hash | dataset_name + dataset_index, response | responses }` with `--items NAME|PATH`;
 * - flat: `{ options, answer_label, response | responses, dataset_name? }`.
 */
import { createReadStream } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { DataError } from "../data/item";
import { loadAny } from "../data/registry";
import { gradeResponse, majorityVote, sampleMetrics, type GradeOptions, type GradeResult, type SampleMetrics } from "../grade";
import { ConfigError } from "../errors";

const HELP = `usage: medvlthinker grade <predictions.jsonl> [options]

Regrade model responses with the published MedVLThinker rule (last <answer> block, first line;
fallbacks "answer:", "answer is:", "answer is", "is:"; letter, text or "L. text") and print
accuracy, average correct, pass@k and majority@k per benchmark (dataset_name).

options:
  --items NAME|PATH    items to look options up in: a dataset name (medqa, vqa-rad:test, ...) or
                       any file the data layer reads (interchange parquet/jsonl, MedAgentsBench...);
                       matched by hash, id, dataset_name + dataset_index, else row = dataset_index
  --json               print the metrics as JSON
  --out FILE.jsonl     also write each input line regraded, with the fields upstream's
                       regrade_eval_results.py adds (atomic write)
  --llava-med-rule     upstream --llava_med_rule: an option matches if its text occurs in the answer
  --loose              variant: read letters written "(B)", "**B**", "Option B", "B. ..." too
  -h, --help           this help`;

interface GoldRef {
  options: Record<string, string>;
  answer_label: string;
  dataset_name: string;
}

export interface GradedLine {
  line: number;
  dataset_name: string;
  answer_label: string;
  options: Record<string, string>;
  grades: GradeResult[];
  /** The input line as read. */
  source: Record<string, unknown>;
}

type Json = Record<string, unknown>;

function configError(message: string): Error {
  return new ConfigError(message);
}

async function* jsonLines(file: string): AsyncGenerator<{ line: number; value: Json }> {
  const stream = createReadStream(file, { encoding: "utf8" });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once("open", () => resolve());
    stream.once("error", reject);
  });
  try {
    await opened;
  } catch (e) {
    throw configError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let n = 0;
  for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) {
    n++;
    if (!text.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new DataError(file, `line ${n}`, "(json)", (e as Error).message);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new DataError(file, `line ${n}`, "(json)", "is not a JSON object");
    yield { line: n, value: value as Json };
  }
}

/** Options as an object of letter -> text, from an object or a JSON string. */
function parseOptions(v: unknown, file: string, line: string, field: string): Record<string, string> {
  let o = v;
  if (typeof v === "string") {
    try {
      o = JSON.parse(v);
    } catch (e) {
      throw new DataError(file, line, field, `is a string but not JSON: ${(e as Error).message}`);
    }
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw new DataError(file, line, field, "must be an object of letter -> option text");
  const out: Record<string, string> = {};
  for (const [k, t] of Object.entries(o as Json)) {
    if (typeof t !== "string") throw new DataError(file, line, `${field}.${k}`, "must be a string");
    out[k] = t;
  }
  if (Object.keys(out).length < 2) throw new DataError(file, line, field, "needs at least 2 options");
  return out;
}

/** End-of-turn markers of chat templates (Qwen, Gemma, Llama 3, Mistral / Llama 2). */
const END_OF_TURN = ["<|im_end|>", "<end_of_turn>", "<|eot_id|>", "[/INST]"];

/**
 * Options recovered from the official prompt text: after the last "\n\nOptions:", the blocks
 * "\n\nA. ", "\n\nB. ", ... in letter order. Null if the text is not an official prompt.
 */
export function optionsFromPrompt(prompt: string): Record<string, string> | null {
  const at = prompt.lastIndexOf("\n\nOptions:");
  if (at === -1) return null;
  let rest = prompt.slice(at + "\n\nOptions:".length);
  // eval/run_offline_inference.py stores the chat-templated prompt: cut the end-of-turn marker.
  for (const eot of END_OF_TURN) {
    const e = rest.lastIndexOf(eot);
    if (e !== -1) rest = rest.slice(0, e);
  }
  const out: Record<string, string> = {};
  let pos = 0;
  for (let i = 0; i < 26; i++) {
    const head = `\n\n${String.fromCharCode(65 + i)}. `;
    if (!rest.startsWith(head, pos)) break;
    const start = pos + head.length;
    const nextHead = `\n\n${String.fromCharCode(66 + i)}. `;
    const next = i < 25 ? rest.indexOf(nextHead, start) : -1;
    out[String.fromCharCode(65 + i)] = rest.slice(start, next === -1 ? rest.length : next);
    if (next === -1) {
      pos = rest.length;
      break;
    }
    pos = next;
  }
  return Object.keys(out).length >= 2 && pos === rest.length ? out : null;
}

function promptText(prompts: unknown): string | null {
  if (typeof prompts === "string") return prompts;
  if (!Array.isArray(prompts)) return null;
  for (const msg of prompts) {
    const content = (msg as Json | null)?.content;
    if (typeof content === "string" && content.includes("Options:")) return content;
    if (Array.isArray(content)) for (const part of content) if (typeof (part as Json)?.text === "string") return (part as Json).text as string;
  }
  return null;
}

function responsesOf(v: Json, file: string, line: string): string[] {
  const asText = (x: unknown, field: string): string => {
    if (typeof x === "string") return x;
    if (x && typeof x === "object") {
      const o = x as Json;
      for (const key of ["output_text", "text", "response", "content"]) if (typeof o[key] === "string") return o[key] as string;
    }
    if (x === null) return ""; // a failed request: an empty response, graded wrong
    throw new DataError(file, line, field, "must be a string (or an object with output_text / text)");
  };
  if (Array.isArray(v.parsed_outputs)) return v.parsed_outputs.map((o, i) => asText(o, `parsed_outputs.${i}`));
  for (const key of ["responses", "outputs", "completions"]) if (Array.isArray(v[key])) return (v[key] as unknown[]).map((o, i) => asText(o, `${key}.${i}`));
  for (const key of ["response", "output_text", "output", "completion", "prediction"]) if (key in v) return [asText(v[key], key)];
  throw new DataError(file, line, "response", "no response found (expected response, responses, parsed_outputs[].output_text or output_text)");
}

interface ItemIndex {
  byKey: Map<string, GoldRef>;
  /** Items by row position: upstream regrade_eval_results.py looks options up as dataset[dataset_index]. */
  byRow: GoldRef[];
}

/** Lookup keys of an item or a prediction line, most specific first. */
function keysOf(v: Json): string[] {
  const keys: string[] = [];
  if (typeof v.hash === "string") keys.push(`hash:${v.hash}`);
  const misc = v.misc as Json | undefined;
  for (const id of [v.id, v.source_id, misc?.source_id, misc?.id]) if (typeof id === "string" || typeof id === "number") keys.push(`id:${id}`);
  if (typeof v.dataset_name === "string" && (typeof v.dataset_index === "number" || typeof v.dataset_index === "string")) keys.push(`ds:${v.dataset_name.toLowerCase()}:${v.dataset_index}`);
  return keys;
}

/** Items from a dataset name ("medqa", "vqa-rad:test") or any file the data layer reads (parquet, jsonl...). */
async function loadItems(nameOrPath: string): Promise<ItemIndex> {
  const { items } = await loadAny(nameOrPath);
  const byKey = new Map<string, GoldRef>();
  const byRow: GoldRef[] = [];
  for (const it of items) {
    const ref: GoldRef = { options: it.options, answer_label: it.answer_label, dataset_name: it.dataset_name };
    byRow.push(ref);
    for (const k of keysOf(it as unknown as Json)) if (!byKey.has(k)) byKey.set(k, ref);
  }
  return { byKey, byRow };
}

/** The gold reference for one prediction line. */
function goldOf(v: Json, file: string, line: string, items: ItemIndex | null): GoldRef {
  const name = (x: unknown) => (typeof x === "string" && x ? x : "default");
  if (v.item && typeof v.item === "object") {
    const it = v.item as Json;
    const options = parseOptions(it.options, file, line, "item.options");
    const label = it.answer_label;
    if (typeof label !== "string" || !(label in options)) throw new DataError(file, line, "item.answer_label", `must be one of ${Object.keys(options).join(",")}`);
    return { options, answer_label: label, dataset_name: name(it.dataset_name ?? v.dataset_name) };
  }
  let options: Record<string, string> | null = v.options !== undefined ? parseOptions(v.options, file, line, "options") : null;
  let fromItems: GoldRef | undefined;
  if (items) for (const k of keysOf(v)) if ((fromItems = items.byKey.get(k))) break;
  if (items && !fromItems && typeof v.dataset_index === "number") fromItems = items.byRow[v.dataset_index];
  if (!options && fromItems) options = fromItems.options;
  if (!options) {
    const p = promptText(v.prompts ?? v.prompt);
    options = p === null ? null : optionsFromPrompt(p);
  }
  if (!options) throw new DataError(file, line, "options", items ? "no options in the line, no matching item in --items, and no official prompt to read them from" : "no options in the line and no official prompt to read them from; pass --items");
  const label = typeof v.answer_label === "string" ? v.answer_label : fromItems?.answer_label;
  if (typeof label !== "string" || !(label in options)) throw new DataError(file, line, "answer_label", `missing or not one of ${Object.keys(options).join(",")}`);
  if (typeof v.answer === "string" && options[label] !== v.answer) {
    throw new DataError(file, line, "answer", `'${v.answer}' differs from option ${label} '${options[label]}' (the options do not belong to this item?)`);
  }
  return { options, answer_label: label, dataset_name: name(v.dataset_name ?? fromItems?.dataset_name) };
}

/** Grade every line of a predictions file; the lines in order. */
export async function gradeFile(file: string, opts: GradeOptions & { items?: string } = {}): Promise<GradedLine[]> {
  const items = opts.items ? await loadItems(opts.items) : null;
  const out: GradedLine[] = [];
  for await (const { line, value } of jsonLines(file)) {
    const where = `line ${line}`;
    const gold = goldOf(value, file, where, items);
    const responses = responsesOf(value, file, where);
    if (responses.length === 0) throw new DataError(file, where, "responses", "is empty");
    const grades = responses.map((r) => gradeResponse(r, gold.options, gold.answer_label, opts));
    out.push({ line, dataset_name: gold.dataset_name, answer_label: gold.answer_label, options: gold.options, grades, source: value });
  }
  return out;
}

export interface GradeReport {
  benchmarks: Record<string, SampleMetrics & { no_answer: number }>;
  overall: SampleMetrics & { no_answer: number };
}

/** Metrics per benchmark and over all lines; `no_answer` = fraction of samples with no answer tag and no fallback. */
export function summarize(lines: GradedLine[]): GradeReport {
  const metrics = (ls: GradedLine[]) => {
    const m = sampleMetrics(
      ls.map((l) => l.grades.map((g) => g.correct)),
      ls.map((l) => l.grades.map((g) => g.vote)),
      ls.map((l) => l.answer_label),
    );
    let none = 0;
    let total = 0;
    for (const l of ls) for (const g of l.grades) (total++, g.via === "none" && none++);
    return { ...m, no_answer: total ? none / total : NaN };
  };
  const groups = new Map<string, GradedLine[]>();
  for (const l of lines) {
    const g = groups.get(l.dataset_name) ?? [];
    g.push(l);
    groups.set(l.dataset_name, g);
  }
  const benchmarks: GradeReport["benchmarks"] = {};
  for (const name of [...groups.keys()].sort()) benchmarks[name] = metrics(groups.get(name)!);
  return { benchmarks, overall: metrics(lines) };
}

/** A plain-text table, one row per benchmark plus "(all)"; percentages. */
export function formatReport(r: GradeReport): string {
  const pct = (x: number) => (Number.isNaN(x) ? "-" : (100 * x).toFixed(2));
  const rows = [["benchmark", "items", "k", "accuracy", "avg_correct", "pass@k", "majority@k", "no_answer"]];
  const add = (name: string, m: GradeReport["overall"]) =>
    rows.push([name, String(m.n_items), String(m.k), pct(m.accuracy), pct(m.avg_correct), pct(m.pass_at_k), pct(m.majority_at_k), pct(m.no_answer)]);
  for (const [name, m] of Object.entries(r.benchmarks)) add(name, m);
  add("(all)", r.overall);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")).join("\n");
}

/**
 * One output line: the input line with the fields upstream regrade_eval_results.py writes
 * (parsed_outputs[].pred_letter / is_correct, num_correct, prev_num_correct,
 * majority_vote_pred_letter, average_num_correct, pass_at_num_rollouts, majority_at_num_rollouts,
 * options), so its analysis notebooks read it, plus our per-sample `grades`.
 */
export function regradedLine(l: GradedLine): Record<string, unknown> {
  const src = l.source;
  const votes = l.grades.map((g) => g.vote);
  const numCorrect = l.grades.filter((g) => g.correct).length;
  const majority = majorityVote(votes) ?? null;
  const out: Record<string, unknown> = { ...src };
  if (Array.isArray(src.parsed_outputs)) {
    out.parsed_outputs = src.parsed_outputs.map((o, i) => ({ ...(o && typeof o === "object" ? o : { output_text: o }), pred_letter: votes[i], is_correct: l.grades[i].correct }));
  }
  out.dataset_name = l.dataset_name;
  out.answer_label = l.answer_label;
  out.prev_num_correct = typeof src.num_correct === "number" ? src.num_correct : -1;
  out.num_rollouts = l.grades.length;
  out.num_correct = numCorrect;
  out.majority_vote_pred_letter = majority;
  out.average_num_correct = numCorrect / l.grades.length;
  out.pass_at_num_rollouts = numCorrect > 0;
  out.majority_at_num_rollouts = majority === l.answer_label;
  out.options = l.options;
  out.grades = l.grades;
  return out;
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: "boolean", default: false },
        items: { type: "string" },
        out: { type: "string" },
        "llava-med-rule": { type: "boolean", default: false },
        loose: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    throw configError(`${(e as Error).message}\n\n${HELP}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw configError(`expected one predictions file, got ${positionals.length}\n\n${HELP}`);
  const lines = await gradeFile(positionals[0], {
    items: values.items,
    llavaMedRule: values["llava-med-rule"],
    extraction: values.loose ? "loose" : "published",
  });
  const report = summarize(lines);
  if (values.out) {
    const body = lines.map((l) => JSON.stringify(regradedLine(l))).join("\n");
    const tmp = `${values.out}.tmp-${process.pid}`;
    await writeFile(tmp, body ? body + "\n" : "");
    await rename(tmp, values.out);
  }
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return 0;
}
