/**
 * The package's main entry (`import { computeReward } from "medvlthinker-ts"`): the recipe's core
 * that any program scoring or building prompts needs - items and datasets, the prompt, the RLVR
 * reward and the grader. Evaluation and policies are sub-paths (`medvlthinker-ts/eval`,
 * `medvlthinker-ts/policy`), so importing the core loads no HTTP client or model engine.
 */
export * from "./data";
export * from "./prompt";
export * from "./reward";
export * from "./grade";
export { dataRoot, referenceRoot, hasSharedData } from "./paths";
