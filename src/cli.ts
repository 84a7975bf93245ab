/**
 * `medvlthinker <stage> ...`: one subcommand per stage of the recipe. Each lives in
 * src/cli/<stage>.ts and exports `run(argv): Promise<number>` (the exit code), so the CLI
 * stays a thin layer over the same functions the notebooks call.
 */
const STAGES: Record<string, string> = {
  data: "inspect and convert datasets (stats, convert, overlap)",
  grade: "regrade model responses from any tool",
  eval: "evaluate a policy (HTTP server or embedded model) on benchmarks",
  model: "the embedded model: pretrain, sample",
  train: "train: sft, grpo",
  curate: "difficulty curation by pass rate",
  ablation: "the paper's ablation in miniature (--preset smoke|workshop|full)",
};

function usage(): string {
  const lines = Object.entries(STAGES).map(([k, v]) => `  ${k.padEnd(8)} ${v}`);
  return `usage: medvlthinker <command> [options]\n\ncommands:\n${lines.join("\n")}\n\n'medvlthinker <command> --help' for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(usage());
    return cmd ? 0 : 2;
  }
  if (!(cmd in STAGES)) {
    console.error(`medvlthinker: unknown command '${cmd}'\n\n${usage()}`);
    return 2;
  }
  let mod: { run(argv: string[]): Promise<number> };
  try {
    mod = await import(`./cli/${cmd}.ts`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND" && String(e).includes(`cli/${cmd}`)) {
      console.error(`medvlthinker: '${cmd}' is not implemented yet`);
      return 2;
    }
    throw e;
  }
  return mod.run(rest);
}

/** Errors about the user's input or setup: print the message alone, no stack trace. */
const USER_ERRORS = new Set(["DataError", "ConfigError", "CheckpointError", "RequestFailedError"]);

export function formatCliError(err: unknown): string {
  const e = err as { name?: string; message?: string } | null;
  if (e && typeof e.name === "string" && USER_ERRORS.has(e.name)) return `error: ${e.message}`;
  return String((err as Error)?.stack ?? err);
}
