/**
 * `medvlthinker <stage> ...`: one subcommand per stage of the recipe. Each lives in
 * src/cli/<stage>.ts and exports `run(argv): Promise<number>` (the exit code), so the CLI
 * stays a thin layer over the same functions the notebooks call.
 */
type Stage = [summary: string, load: () => Promise<{ run(argv: string[]): Promise<number> }>];

/**
 * One line per subcommand: its summary and its module. A literal import() path, so the package
 * build (scripts/build.ts) and the type checker both see the module; a new subcommand is its file
 * plus its line here.
 */
const STAGES: Record<string, Stage> = {
  data: ["inspect and convert datasets (stats, convert, overlap)", () => import("./cli/data")],
  grade: ["regrade model responses from any tool", () => import("./cli/grade")],
  eval: ["evaluate a policy (HTTP server or embedded model) on benchmarks", () => import("./cli/eval")],
  model: ["the embedded model: pretrain, sample", () => import("./cli/model")],
  train: ["train: sft, grpo", () => import("./cli/train")],
  curate: ["difficulty curation by pass rate", () => import("./cli/curate")],
};

function usage(): string {
  const lines = Object.entries(STAGES).map(([k, [v]]) => `  ${k.padEnd(8)} ${v}`);
  return `usage: medvlthinker <command> [options]\n\ncommands:\n${lines.join("\n")}\n\n'medvlthinker <command> --help' for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(usage());
    return cmd ? 0 : 2;
  }
  if (!Object.hasOwn(STAGES, cmd)) {
    console.error(`medvlthinker: unknown command '${cmd}'\n\n${usage()}`);
    return 2;
  }
  const mod = await STAGES[cmd][1]();
  return mod.run(rest);
}

/** Errors about the user's input or setup: print the message alone, no stack trace. */
const USER_ERRORS = new Set(["DataError", "ConfigError", "CheckpointError", "RequestFailedError"]);

export function formatCliError(err: unknown): string {
  const e = err as { name?: string; message?: string } | null;
  if (e && typeof e.name === "string" && USER_ERRORS.has(e.name)) return `error: ${e.message}`;
  return String((err as Error)?.stack ?? err);
}
