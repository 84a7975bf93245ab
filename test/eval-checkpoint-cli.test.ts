// `medvlthinker eval --checkpoint DIR`: an embedded checkpoint through the same harness, flags and
// run folders as a served model; --ignore-images gives the blind run its own folder.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { embeddedPolicyName } from "../src/curate/policies";
import { initEngine } from "../src/model/engine";
import { EmbeddedModel } from "../src/model/model";
import { TextTokenizer } from "../src/model/tokenizer";
import { dataRoot, hasSharedData } from "../src/paths";
import { runCli } from "./helpers/run-cli";

const tmp = mkdtempSync(join(tmpdir(), "eval-checkpoint-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { timeoutMs: 120_000 });

test("bad --checkpoint use fails with a message before any work", { timeout: 60_000 }, async () => {
  const a = await cli(["eval", "--checkpoint", join(tmp, "nothing"), "--benchmarks", "vqa-rad"]);
  assert.equal(a.code, 1);
  assert.match(a.stderr, /not a checkpoint folder \(no config\.json/);
  const b = await cli(["eval", "--checkpoint", tmp, "--base-url", "http://127.0.0.1:9/v1", "--benchmarks", "vqa-rad"]);
  assert.match(b.stderr, /not both/);
  const c = await cli(["eval", "--benchmarks", "vqa-rad"]);
  assert.match(c.stderr, /--base-url is required .* or --checkpoint DIR/);
});

test("eval --checkpoint: answers graded into a run folder named after the weights; resumes; --ignore-images is another folder", { skip: !hasSharedData() && "no shared data", timeout: 300_000 }, async () => {
  await initEngine();
  const lines = readFileSync(join(dataRoot(), "medqa", "test.jsonl"), "utf8").split("\n").filter(Boolean).slice(0, 20);
  const ck = join(tmp, "tiny", "checkpoint");
  const m = await EmbeddedModel.create("tiny", TextTokenizer.fit(lines, 400), 3, { maxSeq: 160 });
  await m.save(ck);
  m.dispose();
  const out = join(tmp, "runs");
  const args = ["eval", "--checkpoint", ck, "--benchmarks", "vqa-rad,slake", "--limit", "3", "--runs", "1", "--max-tokens", "4", "--out", out, "--no-progress"];
  const first = await cli(args);
  assert.equal(first.code, 0, first.stderr);
  const name = embeddedPolicyName(ck);
  assert.match(first.stdout, new RegExp(`model: ${name}`));
  assert.match(first.stdout, /\|VQA-RAD \(closed\)\|3\|1\|/);
  assert.match(first.stdout, /\|SLAKE \(closed, English\)\|3\|1\|/);
  const dir = /results: (.*)/.exec(first.stdout)![1].trim();
  assert.ok(dir.startsWith(join(out, name)));
  const saved = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  assert.equal(saved.config.checkpoint, ck);
  assert.equal(saved.config.batchSize, 8);
  assert.equal(readFileSync(join(dir, "results.jsonl"), "utf8").trim().split("\n").length, 6);
  // The same command again sends nothing.
  const again = await cli(args);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /resuming .*: 6 \(item, run\) pairs done, 0 to send/);
  const blind = await cli([...args, "--ignore-images"]);
  assert.equal(blind.code, 0, blind.stderr);
  const blindDir = /results: (.*)/.exec(blind.stdout)![1].trim();
  assert.notEqual(blindDir, dir);
  assert.equal(JSON.parse(readFileSync(join(blindDir, "config.json"), "utf8")).config.prompt.ignoreImages, true);
});

test("EmbeddedPolicy with ignoreImages hands the model no images (and the same text)", async () => {
  const { EmbeddedPolicy } = await import("../src/policy/embedded");
  const seen: unknown[] = [];
  const fake = {
    info: { stage: "t" },
    config: { dModel: 8 },
    generate: async (prompts: { text: string; images: unknown }[]) => {
      seen.push(...prompts.map((p) => [p.text, p.images]));
      return prompts.map(() => ({ text: "<answer>A</answer>", finishReason: "stop", ids: [], logprobs: [] }));
    },
    dispose: () => {},
  };
  const item = { images: [{ bytes: null, path: "/x.jpg" }], question: "Q?", options: { A: "Yes", B: "No" }, answer_label: "A", answer: "Yes", reasoning: null, dataset_name: "t", dataset_index: 0 };
  const params = { n: 1, temperature: 0, top_p: 1, max_tokens: 4, seed: 1 };
  await new EmbeddedPolicy(fake as any).sample([item], params);
  await new EmbeddedPolicy(fake as any, { ignoreImages: true }).sample([item], params);
  assert.deepEqual((seen[0] as unknown[])[1], item.images);
  assert.equal((seen[1] as unknown[])[1], null);
  assert.equal((seen[0] as unknown[])[0], (seen[1] as unknown[])[0]);
});
