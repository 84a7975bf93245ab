#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so the same src serves notebooks, tests and the CLI.
import { register } from "tsx/esm/api";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";
process.env.MEDVLTHINKER_ROOT ??= resolve(dirname(fileURLToPath(import.meta.url)), "..");
register();
const { main, formatCliError } = await import("../src/cli.ts");
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(formatCliError(err));
    process.exit(1);
  },
);
