#!/usr/bin/env node
// The CLI, from either home:
// - a checkout (src/ beside bin/): the TypeScript sources through tsx, so the same src serves
//   notebooks, tests and the CLI, with no build step;
// - an installed package (npm install / -g / npx: no src/, only dist/ from `npm run build`): the
//   compiled JavaScript with plain node. Paths then start from the current folder (src/paths.ts).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const pkgRoot = new URL("../", import.meta.url);
let cli;
if (existsSync(new URL("src/cli.ts", pkgRoot))) {
  process.env.MEDVLTHINKER_ROOT ??= fileURLToPath(pkgRoot);
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import("../src/cli.ts");
} else {
  cli = await import("../dist/cli.js");
}
cli.main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(cli.formatCliError(err));
    process.exit(1);
  },
);
