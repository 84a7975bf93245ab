/**
 * Throughput of the training reward and the evaluation grader on one core (responses/s), on
 * responses of realistic length (1-4 kB: a reasoning trace then an answer) over real MedQA items.
 * The mix: 60% well-formed letter answers (half right), 10% option text, 10% "L. text",
 * 10% bad format (no think tags / text after the answer), 10% multi-line or decorated answers.
 *
 *   npx tsx bench/reward.ts                 (BENCH_RESPONSES=20000, BENCH_SECONDS=2 by default)
 * Wall-clock figures drop when other jobs share the cores; the per-CPU-second figures much less.
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { gradeResponse } from "../src/grade";
import { dataRoot } from "../src/paths";
import { computeReward } from "../src/reward";

interface Case {
  response: string;
  item: { options: Record<string, string>; answer_label: string; answer: string };
}

/** Deterministic PRNG (mulberry32) so every run grades the same responses. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeCases(n: number): Case[] {
  const items = readFileSync(join(dataRoot(), "medqa/test.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      const r = JSON.parse(l);
      return { options: r.options as Record<string, string>, answer_label: r.answer_idx as string, answer: r.answer as string, question: r.question as string };
    });
  const words = items.slice(0, 200).flatMap((it) => it.question.split(/\s+/)).filter(Boolean);
  const rand = rng(42);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const cases: Case[] = [];
  for (let i = 0; i < n; i++) {
    const it = items[i % items.length];
    const target = 1024 + Math.floor(rand() * 3072);
    let think = "";
    while (think.length < target) think += pick(words) + (rand() < 0.08 ? ".\n" : " ");
    const letters = Object.keys(it.options);
    const letter = rand() < 0.5 ? it.answer_label : pick(letters);
    const u = rand();
    let response: string;
    if (u < 0.6) response = `<think>${think}</think>\n<answer>${letter}</answer>`;
    else if (u < 0.7) response = `<think>${think}</think>\n<answer>${it.options[letter]}</answer>`;
    else if (u < 0.8) response = `<think>${think}</think>\n<answer>${letter}. ${it.options[letter]}</answer>`;
    else if (u < 0.85) response = `${think}\nThe answer is ${letter}.`;
    else if (u < 0.9) response = `<think>${think}</think>\n<answer>${letter}</answer>\nI hope this helps.`;
    else if (u < 0.95) response = `<think>${think}</think>\n<answer>\n${letter}\n</answer>`;
    else response = `<think>${think}</think>\n<answer>**(${letter})**</answer>`;
    cases.push({ response, item: it });
  }
  return cases;
}

/**
 * Responses per second of `fn` over the cases, repeated for at least `seconds` after a warm-up
 * pass: per wall-clock second and per second of this process's CPU time (the latter stays
 * meaningful when other jobs share the cores).
 */
function throughput(cases: Case[], seconds: number, fn: (c: Case) => number): { perSecond: number; perCpuSecond: number; checksum: number } {
  let checksum = 0;
  for (const c of cases) checksum += fn(c); // warm-up (JIT)
  checksum = 0;
  let done = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let elapsed = 0;
  do {
    for (const c of cases) checksum += fn(c);
    done += cases.length;
    elapsed = (performance.now() - t0) / 1000;
  } while (elapsed < seconds);
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { perSecond: done / elapsed, perCpuSecond: done / cpuSeconds, checksum: checksum / (done / cases.length) };
}

export async function run(): Promise<Record<string, number | string>> {
  const n = Number(process.env.BENCH_RESPONSES ?? 20_000);
  const seconds = Number(process.env.BENCH_SECONDS ?? 2);
  const cases = makeCases(n);
  const meanBytes = cases.reduce((s, c) => s + Buffer.byteLength(c.response), 0) / cases.length;
  const reward = throughput(cases, seconds, (c) => computeReward(c.response, c.item).score);
  const rewardLoose = throughput(cases, seconds, (c) => computeReward(c.response, c.item, { extraction: "loose", format: "separate" }).reward);
  const grade = throughput(cases, seconds, (c) => (gradeResponse(c.response, c.item.options, c.item.answer_label).correct ? 1 : 0));
  return {
    responses: n,
    mean_response_bytes: Math.round(meanBytes),
    reward_responses_per_s: Math.round(reward.perSecond),
    reward_responses_per_cpu_s: Math.round(reward.perCpuSecond),
    reward_mean_score: Number((reward.checksum / n).toFixed(4)),
    reward_loose_separate_responses_per_s: Math.round(rewardLoose.perSecond),
    reward_loose_separate_responses_per_cpu_s: Math.round(rewardLoose.perCpuSecond),
    grade_responses_per_s: Math.round(grade.perSecond),
    grade_responses_per_cpu_s: Math.round(grade.perCpuSecond),
    grade_accuracy: Number((grade.checksum / n).toFixed(4)),
    mb_per_s_reward: Number(((reward.perSecond * meanBytes) / 2 ** 20).toFixed(1)),
    load_average_1min: Number(loadavg()[0].toFixed(2)),
    node: process.version,
    cores_used: 1,
  };
}

if (process.argv[1] && /bench[\\/]reward\.ts$/.test(process.argv[1])) {
  run().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
