/**
 * Where a trainer's named starting models come from. `model.init` is a checkpoint folder, or
 * "base" / "instruct": the shared models that the stages layer makes once and keeps in runs/
 * (src/stages/models.ts `stageModels`). Trainers take the maker as an option instead of importing
 * it, so train/ never imports the layer above it (stages/ uses train/ to build those models).
 */
import { ConfigError } from "../errors";
import type { EmbeddedModel } from "../model/model";

export type StageModelName = "base" | "instruct";

export interface StageModelOptions {
  size: string;
  smoke: boolean;
  /** Progress bars while a model is made (default true). */
  progress?: boolean;
  /** Notes (rebuilds); default console.error. */
  log?: (message: string) => void;
}

/** Loads (or makes, the first time) the named stage model. */
export type StageModels = (name: StageModelName, o: StageModelOptions) => Promise<EmbeddedModel>;

/** Fails before any work when `init` names a stage model and no maker was passed. */
export function checkStageModels(init: string, models: StageModels | undefined): void {
  if ((init === "base" || init === "instruct") && !models)
    throw new ConfigError(`model.init '${init}' is made by the stages layer: pass { models: stageModels } (import { stageModels } from "src/stages/models"), or give a checkpoint folder`);
}

/** The stage model of `name` (checkStageModels has run). */
export function stageModel(models: StageModels | undefined, name: StageModelName, o: StageModelOptions): Promise<EmbeddedModel> {
  checkStageModels(name, models);
  return models!(name, o);
}
