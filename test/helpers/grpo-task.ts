/** The synthetic GRPO tasks live in src/train/toy-task.ts (notebook 04 runs the "last" one); the tests import them from here. */
export { copyTaskItems, makeCopyTask, type CopyTask } from "../../src/train/toy-task";
