/**
 * The data layer in one import (the package's `medvlthinker-ts/data`): the interchange item, the
 * dataset registry and loaders, JSONL / parquet I/O, statistics, train/eval overlap, images.
 */
export * from "./item";
export * from "./registry";
export * from "./jsonl";
export * from "./parquet";
export * from "./interchange";
export * from "./stats";
export * from "./overlap";
export * from "./images";
// Types the loaders' signatures name.
export { Collector, type SkippedRecord } from "./source";
