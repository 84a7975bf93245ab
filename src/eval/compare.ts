/**
 * Paired comparison of two runs on the same items: which items flipped, and the exact McNemar
 * test on the discordant pairs. Items are matched by benchmark and item hash (so two runs over
 * the same questions compare even if their data sources ordered them differently); an item is
 * "right" when the majority of its runs and samples are right (ties count as wrong).
 */
import * as aq from "arquero";
import type { EvalRun } from "./harness";
import { loadRun, markdown } from "./report";
import { mcnemarExact } from "./stats";
import type { ResultRecord } from "./store";

export interface Flip {
  benchmark: string;
  hash: string;
  index_a: number;
  index_b: number;
  /** Share of A's (B's) answers to this item that were right. */
  score_a: number;
  score_b: number;
  /** "A" when only A got it right, "B" when only B did. */
  winner: "A" | "B";
}

export interface PairedRow {
  benchmark: string;
  /** Items in both runs. */
  items: number;
  acc_a: number;
  acc_b: number;
  /** Right in A only, right in B only. */
  a_only: number;
  b_only: number;
  p_mcnemar: number;
}

export interface Comparison {
  a: string;
  b: string;
  rows: PairedRow[];
  flips: Flip[];
  table: aq.ColumnTable;
  text: string;
}

/** benchmark \t hash \t occurrence -> { index, score }. Occurrence pairs repeated questions in order. */
function itemMap(records: ResultRecord[]): Map<string, { benchmark: string; hash: string; index: number; score: number }> {
  const agg = new Map<string, { benchmark: string; hash: string; index: number; s: number; n: number }>();
  for (const r of records) {
    const k = `${r.benchmark}\t${r.index}`;
    const a = agg.get(k) ?? { benchmark: r.benchmark, hash: r.hash, index: r.index, s: 0, n: 0 };
    a.s += r.correct ? 1 : 0;
    a.n++;
    agg.set(k, a);
  }
  const sorted = [...agg.values()].sort((x, y) => (x.benchmark < y.benchmark ? -1 : x.benchmark > y.benchmark ? 1 : x.index - y.index));
  const occ = new Map<string, number>();
  const out = new Map<string, { benchmark: string; hash: string; index: number; score: number }>();
  for (const a of sorted) {
    const base = `${a.benchmark}\t${a.hash}`;
    const k = occ.get(base) ?? 0;
    occ.set(base, k + 1);
    out.set(`${base}\t${k}`, { benchmark: a.benchmark, hash: a.hash, index: a.index, score: a.s / a.n });
  }
  return out;
}

/** Compare two record sets (A and B) item by item. */
export function compareRecords(a: ResultRecord[], b: ResultRecord[], names: { a: string; b: string } = { a: "A", b: "B" }): Comparison {
  const ma = itemMap(a);
  const mb = itemMap(b);
  const per = new Map<string, { items: number; ra: number; rb: number; aOnly: number; bOnly: number }>();
  const flips: Flip[] = [];
  for (const [k, x] of ma) {
    const y = mb.get(k);
    if (!y) continue;
    const p = per.get(x.benchmark) ?? { items: 0, ra: 0, rb: 0, aOnly: 0, bOnly: 0 };
    const ra = x.score > 0.5;
    const rb = y.score > 0.5;
    p.items++;
    p.ra += ra ? 1 : 0;
    p.rb += rb ? 1 : 0;
    if (ra && !rb) p.aOnly++;
    if (rb && !ra) p.bOnly++;
    per.set(x.benchmark, p);
    if (ra !== rb) flips.push({ benchmark: x.benchmark, hash: x.hash, index_a: x.index, index_b: y.index, score_a: x.score, score_b: y.score, winner: ra ? "A" : "B" });
  }
  const rows: PairedRow[] = [...per].map(([benchmark, p]) => ({
    benchmark,
    items: p.items,
    acc_a: (100 * p.ra) / p.items,
    acc_b: (100 * p.rb) / p.items,
    a_only: p.aOnly,
    b_only: p.bOnly,
    p_mcnemar: mcnemarExact(p.aOnly, p.bOnly),
  }));
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const table = aq.from(rows.map((r) => ({ ...r, acc_a: r2(r.acc_a), acc_b: r2(r.acc_b), p_mcnemar: Number(r.p_mcnemar.toPrecision(3)) })));
  const text =
    `A: ${names.a}\nB: ${names.b}\n\n${markdown(table)}\n` +
    "items matched by benchmark and hash; an item is right when most of its runs/samples are; p: exact McNemar (two-sided) on a_only vs b_only\n";
  return { a: names.a, b: names.b, rows, flips, table, text };
}

/** Compare two runs (run folders or runEval results). */
export function compareRuns(a: EvalRun | string, b: EvalRun | string): Comparison {
  const load = (r: EvalRun | string) => (typeof r === "string" ? { name: r, records: loadRun(r).records } : { name: r.dir, records: r.records });
  const x = load(a);
  const y = load(b);
  return compareRecords(x.records, y.records, { a: x.name, b: y.name });
}

export interface AnswerAgreement {
  /** Answers present in both (same benchmark, item, run and sample). */
  compared: number;
  /** Of those, the same response text. */
  same: number;
  /** Keys ("benchmark/index/run/sample") whose responses differ. */
  differ: string[];
  /** Per benchmark: answers compared, same, percent same. */
  rows: { benchmark: string; answers: number; same: number; "same %": number }[];
}

/**
 * Whether two runs of one model gave the same answers, answer by answer (e.g. in-process vs
 * through `medvlthinker serve`): matched by benchmark, item, run and sample; equal response text.
 */
export function answerAgreement(a: ResultRecord[], b: ResultRecord[]): AnswerAgreement {
  const key = (r: ResultRecord) => `${r.benchmark}/${r.index}/${r.run}/${r.sample}`;
  const mb = new Map(b.map((r) => [key(r), r]));
  const per = new Map<string, { answers: number; same: number }>();
  const differ: string[] = [];
  for (const r of a) {
    const o = mb.get(key(r));
    if (!o) continue;
    const p = per.get(r.benchmark) ?? { answers: 0, same: 0 };
    p.answers++;
    if (o.response === r.response) p.same++;
    else differ.push(key(r));
    per.set(r.benchmark, p);
  }
  const rows = [...per].map(([benchmark, p]) => ({ benchmark, answers: p.answers, same: p.same, "same %": Math.round((1000 * p.same) / p.answers) / 10 }));
  return { compared: rows.reduce((s, r) => s + r.answers, 0), same: rows.reduce((s, r) => s + r.same, 0), differ, rows };
}
