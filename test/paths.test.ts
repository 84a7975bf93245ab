// A file shipped with the package (src/paths.ts packagedFile): src/ in a checkout; a missing one is
// a ConfigError that names every place looked in. (The installed case, dist/, is test/package.test.ts.)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { packagedFile, REPO_ROOT } from "../src/paths";

test("packagedFile: the checkout's src/ copy, or an error naming where it looked", () => {
  const f = packagedFile("cluster/verl_reward.py");
  assert.equal(f, join(REPO_ROOT, "src", "cluster", "verl_reward.py"));
  assert.match(readFileSync(f, "utf8"), /def compute_score/);
  assert.throws(() => packagedFile("cluster/nope.py", "the nope plug-in"), (e: Error) => {
    assert.equal(e.name, "ConfigError");
    assert.match(e.message, /^the nope plug-in was not found \(looked in /);
    assert.ok(e.message.includes(join(REPO_ROOT, "src", "cluster", "nope.py")), e.message);
    return true;
  });
});
