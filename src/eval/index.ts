/**
 * Evaluation in one import, for notebooks:
 *
 *   import { OpenAIPolicy, runEval, report, compareRuns } from "./src/eval";
 *   const run = await runEval({ model: "qwen2.5-vl-3b", benchmarks: ["vqa-rad", "slake"], limit: 50 },
 *                             new OpenAIPolicy({ baseURL: "http://127.0.0.1:8000/v1", model: "qwen2.5-vl-3b" }));
 *   report(run).table   // arquero table; .text is markdown
 */
export { runEval, type EvalRun, type RunEvalOptions } from "./harness";
export { itemHash } from "../data/item";
export { report, summarize, loadRun, type Report, type BenchmarkSummary } from "./report";
export { compareRuns, compareRecords, type Comparison } from "./compare";
export { BENCHMARKS, PAPER_BENCHMARKS, TEXT_BENCHMARKS, loadBenchmarks, expandBenchmarks } from "./benchmarks";
export { parseEvalConfig, runDir, type EvalConfig, type EvalConfigInput } from "./config";
export { wilson, bootstrapMeanCI, mcnemarExact } from "./stats";
export { OpenAIPolicy, type OpenAIPolicyOptions } from "../policy/openai";
