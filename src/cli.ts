/**
 * `medvlthinker <stage> ...`: one subcommand per stage of the recipe. Each lives in
 * src/cli/<stage>.ts and exports `run(argv): Promise<number>` (the exit code), so the CLI
 * stays a thin layer over the same functions the notebooks call.
 */
import { ConfigError } from "./errors";

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
  cluster: ["verl on Ray: export, submit, follow, stop, merge, serve", () => import("./cli/cluster")],
  reproduce: ["a row of the paper's table from a served model, beside the paper's", () => import("./cli/reproduce")],
  serve: ["serve an embedded checkpoint over an OpenAI-compatible API", () => import("./cli/serve")],
  ablation: ["the paper's ablation in miniature (--preset smoke|workshop|full)", () => import("./cli/ablation")],
};

function usage(): string {
  const lines = Object.entries(STAGES).map(([k, [v]]) => `  ${k.padEnd(10)} ${v}`);
  return `usage: medvlthinker <command> [options]\n\ncommands:\n${lines.join("\n")}\n\n'medvlthinker <command> --help' for a command's options.`;
}

/** Set by --debug (anywhere on the command line) or DEBUG=1: print stack traces. */
let debug = !!process.env.DEBUG && process.env.DEBUG !== "0";

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--debug")) {
    debug = true;
    argv = argv.filter((a) => a !== "--debug");
  }
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
  try {
    return await mod.run(rest);
  } catch (e) {
    // node:util parseArgs: an unknown flag or a missing value, said in one line with where to look.
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      const where = rest[0] && !rest[0].startsWith("-") ? `${cmd} ${rest[0]}` : cmd;
      const first = (e as Error).message.split(/\.\s/)[0].replace(/^Unknown/, "unknown").replace(/^Option/, "option");
      throw new ConfigError(`${where}: ${first}; see 'medvlthinker ${where} --help'`);
    }
    throw e;
  }
}

/** Errors about the user's input or setup: print the message alone, no stack trace. */
const USER_ERRORS = new Set(["DataError", "ConfigError", "CheckpointError", "RequestFailedError", "RunLockedError", "RayJobsError"]);

/**
 * One line for any error (the stack only with --debug or DEBUG=1): the user's mistakes say what
 * to fix; anything else is marked unexpected, with how to get the stack for a bug report.
 */
export function formatCliError(err: unknown): string {
  const e = err as { name?: string; message?: string; stack?: string } | null;
  if (debug) return String(e?.stack ?? err);
  if (e && typeof e.name === "string" && USER_ERRORS.has(e.name)) return `error: ${e.message}`;
  const msg = e && typeof e.message === "string" ? e.message : String(err);
  const name = e?.name && e.name !== "Error" ? `${e.name}: ` : "";
  return `error: ${name}${msg.split("\n")[0]} (unexpected; rerun with --debug for the stack trace)`;
}
