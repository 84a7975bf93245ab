/** Run bin/medvlthinker.js in a child process and collect its exit code and output (a failure is a result, not a throw). */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);
const BIN = join(import.meta.dirname, "..", "..", "bin", "medvlthinker.js");

export async function runCli(args: string[], opts: { timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [BIN, ...args], { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e: any) {
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}
