/**
 * The named stage models a trainer can start from (`model.init` "base" or "instruct"), made once
 * and kept in runs/: pass `{ models: stageModels }` to runSft / trainGrpo (train/init-model.ts).
 */
import type { StageModels } from "../train/init-model";
import { ensureBaseModel } from "./base";
import { ensureInstructModel } from "./instruct";

export const stageModels: StageModels = (name, o) =>
  name === "instruct" ? ensureInstructModel({ size: o.size, smoke: o.smoke, progress: o.progress, log: o.log }) : ensureBaseModel({ size: o.size, smoke: o.smoke, progress: o.progress });
