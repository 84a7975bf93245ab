/**
 * The verl export: parquet read back with the project's parquet reader (hyparquet over a file
 * handle) and every row checked against the item it came from; text-only and image rows split for
 * the pinned commit, mixed for current verl; over-long prompts (image tokens as Qwen2.5-VL counts
 * them) left out and reported; the command rendered key for key; the CLI on a curated parquet.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";
import { fitTokenizerJson } from "../src/model/tokenizer";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import type { Item } from "../src/data/item";
import { writeParquetItems } from "../src/data/parquet";
import { qwenImageTokens, smartResize } from "../src/data/qwen-vl-image";
import { readManifest, rewardPy, writeGrpoBundle, writeSftBundle } from "../src/cluster/bundle";
import { PAPER_SFT_RESOURCES, sftOverrides } from "../src/cluster/verl-sft";
import { parseSftConfig } from "../src/train/config";
import { grpoOverrides, PAPER_RESOURCES, toHead } from "../src/cluster/verl-command";
import { promptCounter, readVerlRows, verlRow, type VerlRow } from "../src/cluster/verl-data";
import { GRPO_PRESETS, parseGrpoConfig } from "../src/train/grpo-config";
import { run as cli } from "../src/cli/cluster";
import { mergeEntrypoint, mergeJobSpec } from "../src/cluster/submit";

async function png(w: number, h: number, seed: number): Promise<Uint8Array> {
  return new Uint8Array(await sharp({ create: { width: w, height: h, channels: 3, background: { r: seed % 255, g: 80, b: 160 } } }).png().toBuffer());
}

async function makeItems(): Promise<Item[]> {
  const items: Item[] = [];
  for (let i = 0; i < 12; i++) {
    const k = i % 3 === 0 ? 0 : i % 3; // 0, 1 or 2 images
    const images = k ? await Promise.all(Array.from({ length: k }, (_, j) => png(40 + 13 * i, 30 + 7 * j, i * 7 + j)).map(async (b) => ({ bytes: await b, path: null }))) : null;
    items.push({
      images,
      question: `Question ${i}: which finding is shown? ünïcødé "quotes" \\n literal`,
      options: { A: "Effusion", B: `Option ${i}`, C: "None" },
      answer_label: "B",
      answer: `Option ${i}`,
      reasoning: null,
      dataset_name: i % 2 ? "slake" : "medqa",
      dataset_index: 100 + i,
    });
  }
  // One prompt far too long: a 3000 x 3000 image is ~11,500 tokens.
  items.push({ ...items[1], images: [{ bytes: await png(3000, 3000, 1), path: null }], dataset_index: 999 });
  // A literal placeholder in the question would pair text with a missing image in verl.
  items.push({ ...items[0], question: "What does <image> show?", dataset_index: 998 });
  return items;
}

const plain = (v: unknown) => JSON.parse(JSON.stringify(v, (_, x) => (typeof x === "bigint" ? Number(x) : x)));

test("smart_resize and image tokens follow qwen-vl-utils (Python rounding, min/max pixels)", () => {
  assert.deepEqual(smartResize(42, 42), { height: 56, width: 56 }); // 42/28 = 1.5 rounds to 2 (even); area below min -> ceil
  assert.deepEqual(smartResize(70, 70), { height: 56, width: 56 }); // 2.5 rounds to 2 (banker's)
  assert.deepEqual(smartResize(512, 512), { height: 504, width: 504 });
  assert.equal(qwenImageTokens(512, 512), 18 * 18 + 2);
  const big = smartResize(10000, 10000);
  assert.ok(big.height * big.width <= 16384 * 28 * 28 && big.height % 28 === 0);
  assert.throws(() => smartResize(10, 2500), /aspect ratio/);
});

test("export for the pinned commit: separate text and image files, every row equal to its item, over-long prompts left out", async () => {
  const dir = mkdtempSync(join(tmpdir(), "verl-export-"));
  try {
    const items = await makeItems();
    const config = parseGrpoConfig({ preset: "published" });
    const m = await writeGrpoBundle(dir, { config, items, target: "pinned", modality: "image", dataSource: "med-test" });
    assert.deepEqual(m.files.filter((f) => f.rows !== undefined).map((f) => [f.path, f.rows]), [["data/train-image.parquet", 8], ["data/train-text.parquet", 4]]);
    assert.deepEqual(m.left_out.map((l) => [l.dataset_index, l.reason]), [[999, "too long"], [998, "placeholder in text"]]);
    assert.ok((m.left_out[0].prompt_tokens as number) > 2048);
    assert.deepEqual(m.train_files, ["./data/train-image.parquet"]);
    const kept = items.filter((it) => it.dataset_index < 998);
    for (const [file, want] of [["train-text.parquet", kept.filter((it) => !it.images)], ["train-image.parquet", kept.filter((it) => it.images)]] as const) {
      const rows = await readVerlRows(join(dir, "data", file));
      assert.equal(rows.length, want.length);
      rows.forEach((row, i) => {
        const it = want[i];
        const expect: VerlRow = verlRow(it, i, { dataSource: "med-test" });
        const { images, ...rest } = plain(row) as VerlRow;
        assert.deepEqual(rest, expect, `${file} row ${i}`);
        // The details verl and the reward rely on.
        assert.equal(rest.reward_model.ground_truth, rest.extra_info.answer);
        assert.equal(rest.prompt.length, 1);
        const k = it.images?.length ?? 0;
        assert.ok(rest.prompt[0].content.startsWith("<image>".repeat(k) + "You will solve"));
        assert.equal(rest.prompt[0].content.split("<image>").length - 1, k);
        assert.deepEqual(JSON.parse(rest.extra_info.options), it.options);
        if (file === "train-text.parquet") assert.equal(images, undefined, "no images column in the text file (the pinned verl iterates it)");
        else {
          assert.equal(images?.length, k);
          images?.forEach((im, j) => {
            assert.match(im.image, /^data:image\/png;base64,/);
            assert.deepEqual(new Uint8Array(Buffer.from(im.image.split(",")[1], "base64")), (it.images as NonNullable<Item["images"]>)[j].bytes);
          });
        }
      });
    }
    assert.equal(readFileSync(join(dir, "reward/medvlthinker_reward.py"), "utf8"), rewardPy());
    const manifest = readManifest(dir);
    for (const f of manifest.files) assert.ok(existsSync(join(dir, f.path)), f.path);
    assert.ok(manifest.files.some((f) => f.path === "command.sh"));
    const cmd = readFileSync(join(dir, "command.sh"), "utf8");
    assert.match(cmd, /data\.train_files=\.\/data\/train-image\.parquet \\/);
    assert.match(cmd, /custom_reward_function\.path=\.\/reward\/medvlthinker_reward\.py/);
    assert.match(cmd, /'trainer\.logger=\[console\]'/);
    // Both modalities and no choice: the pinned commit cannot mix them.
    await assert.rejects(writeGrpoBundle(join(dir, "again"), { config, items, target: "pinned" }), /cannot mix them/);
    const larger = await writeGrpoBundle(join(dir, "larger"), { config, items: items.slice(0, 7), target: "pinned", modality: "larger" });
    assert.deepEqual(larger.train_files, ["./data/train-image.parquet"], "4 image rows beat 3 text rows");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("export for current verl: one file, text rows with images [], over-long prompts filtered by verl too", async () => {
  const dir = mkdtempSync(join(tmpdir(), "verl-export-head-"));
  try {
    const items = await makeItems();
    const m = await writeGrpoBundle(dir, { config: parseGrpoConfig({ preset: "published" }), items, target: "head" });
    assert.deepEqual(m.train_files, ["./data/train.parquet"]);
    const rows = plain(await readVerlRows(join(dir, "data", "train.parquet"))) as VerlRow[];
    assert.equal(rows.length, 12);
    rows.forEach((r, i) => assert.equal(r.images?.length, items[i].images?.length ?? 0));
    assert.match(m.entrypoint, /data\.filter_overlong_prompts=True/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the overrides follow the paper's script key for key; current verl renames and refuses removed keys", () => {
  const c = parseGrpoConfig({ preset: "published" });
  const o = grpoOverrides(c, PAPER_RESOURCES, { trainFiles: ["t.parquet"], valFiles: ["v.parquet"], rewardPath: "./r.py" }, "pinned");
  const get = Object.fromEntries(o);
  // The values of train-qwen2_5_vl_7b-m23k.sh (3B identical but the model).
  const paper: Record<string, string> = {
    "algorithm.adv_estimator": "grpo",
    "data.train_batch_size": "256",
    "data.max_prompt_length": "2048",
    "data.filter_overlong_prompts": "False",
    "data.max_response_length": "4096",
    "data.truncation": "error",
    "data.image_key": "images",
    "actor_rollout_ref.actor.optim.lr": String(1e-6),
    "actor_rollout_ref.actor.ppo_mini_batch_size": "128",
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": "32",
    "actor_rollout_ref.actor.use_kl_loss": "True",
    "actor_rollout_ref.actor.kl_loss_coef": "0.01",
    "actor_rollout_ref.actor.kl_loss_type": "low_var_kl",
    "actor_rollout_ref.actor.entropy_coeff": "0",
    "actor_rollout_ref.rollout.tensor_model_parallel_size": "2",
    "actor_rollout_ref.rollout.gpu_memory_utilization": "0.6",
    "actor_rollout_ref.rollout.n": "8",
    "actor_rollout_ref.ref.fsdp_config.param_offload": "True",
    "algorithm.use_kl_in_reward": "False",
    "trainer.n_gpus_per_node": "8",
    "trainer.nnodes": "1",
    "trainer.total_epochs": "5",
  };
  for (const [k, v] of Object.entries(paper)) assert.equal(get[k], v, k);
  assert.equal(new Set(o.map(([k]) => k)).size, o.length, "no key twice");
  // Changing the config changes the command.
  const c2 = parseGrpoConfig({ preset: "published", actor: { klLossCoef: 0, lr: 2e-6 }, rollout: { n: 16 } });
  const g2 = Object.fromEntries(grpoOverrides(c2, PAPER_RESOURCES, { trainFiles: ["t"], valFiles: ["v"], rewardPath: "r" }, "pinned"));
  assert.equal(g2["actor_rollout_ref.actor.use_kl_loss"], "False");
  assert.equal(g2["actor_rollout_ref.rollout.n"], "16");
  // What verl cannot do is refused, not dropped.
  assert.throws(() => grpoOverrides(GRPO_PRESETS.workshop, PAPER_RESOURCES, { trainFiles: ["t"], valFiles: ["v"], rewardPath: "r" }, "pinned"), /format warm-up/);
  assert.throws(() => grpoOverrides(c, { ...PAPER_RESOURCES, microBatchPerGpu: 48 }, { trainFiles: ["t"], valFiles: ["v"], rewardPath: "r" }, "pinned"), /do not divide/);
  // Renamed and removed keys.
  assert.deepEqual(toHead([["ray_init.num_cpus", "4"], ["actor_rollout_ref.actor.optim.warmup_style", "constant"]]), [
    ["ray_kwargs.ray_init.num_cpus", "4"],
    ["actor_rollout_ref.actor.optim.lr_scheduler_type", "constant"],
  ]);
  assert.throws(() => toHead([["actor_rollout_ref.rollout.use_fire_sampling", "False"]]), /no longer exists/);
  assert.throws(() => toHead([["actor_rollout_ref.rollout.mode", "sync"]]), /removed/);
});

test("prompt counting: the upper bound never undercounts the template and images", () => {
  const c = promptCounter();
  assert.equal(c.kind, "upper-bound");
  const t = c.count("abc", [10, 20]);
  assert.ok(t >= 3 + 30 + 5);
});

test("cli: cluster export grpo on a curated parquet (evaluation items excluded) writes the folder", async () => {
  const dir = mkdtempSync(join(tmpdir(), "verl-export-cli-"));
  try {
    const items = (await makeItems()).slice(0, 6).map((it) => ({ ...it, images: null }));
    await writeParquetItems(join(dir, "curated.parquet"), items);
    const logs: string[] = [];
    const orig = console.log;
    console.log = (...a: unknown[]) => void logs.push(a.join(" "));
    let code: number;
    try {
      code = await cli(["export", "grpo", "--data", join(dir, "curated.parquet"), "--out", join(dir, "out"), "--no-progress", "--set", "trainer.val_before_train=False"]);
    } finally {
      console.log = orig;
    }
    assert.equal(code, 0);
    const m = readManifest(join(dir, "out"));
    assert.equal(m.counts.rows, 6);
    assert.deepEqual(m.train_files, ["./data/train-text.parquet"]);
    assert.match(m.entrypoint, /^python3 -m verl\.trainer\.main_ppo /);
    assert.match(m.entrypoint, /trainer\.val_before_train=False/);
    await assert.rejects(cli(["export", "grpo", "--data", join(dir, "curated.parquet"), "--out", join(dir, "out"), "--no-progress"]), /already holds an export/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("export sft: messages (the RL prompt, the paper's target) + images read back row by row; the paper's TRL settings as verl SFT keys", async () => {
  const dir = mkdtempSync(join(tmpdir(), "verl-sft-"));
  try {
    const items = (await makeItems()).map((it, i) => ({ ...it, reasoning: `  trace ${i}\nwith lines  ` }));
    const m = await writeSftBundle(dir, { config: parseSftConfig({ preset: "published" }), items });
    assert.equal(m.kind, "verl-sft");
    assert.equal(m.counts.rows, 12);
    assert.deepEqual(m.left_out.map((l) => l.dataset_index), [999, 998]);
    const rows = (await readVerlRows(join(dir, "data", "sft.parquet"))) as unknown as { messages: { role: string; content: string }[]; images: { image: string }[] }[];
    const kept = items.filter((it) => it.dataset_index < 998);
    rows.forEach((r, i) => {
      const it = kept[i];
      assert.deepEqual(r.messages, [
        { role: "user", content: verlRow(it, 0, { dataSource: "x" }).prompt[0].content },
        { role: "assistant", content: `<think> trace ${i}\nwith lines </think>\n<answer> B </answer>` },
      ]);
      assert.equal(r.images.length, it.images?.length ?? 0);
    });
    const get = Object.fromEntries(sftOverrides(parseSftConfig({ preset: "published" }), PAPER_SFT_RESOURCES, ["./d.parquet"], 160));
    assert.equal(get["optim.lr"], String(1e-5));
    assert.equal(get["optim.lr_scheduler_type"], "cosine");
    assert.equal(get["optim.lr_warmup_steps_ratio"], "0.05");
    assert.equal(get["optim.weight_decay"], String(1e-4));
    assert.equal(get["optim.betas"], "[0.9,0.95]");
    assert.equal(get["data.train_batch_size"], "16");
    assert.equal(get["trainer.total_epochs"], "5");
    assert.equal(get["trainer.save_freq"], "10", "a checkpoint per epoch (160 rows / 16)");
    assert.match(m.entrypoint, /^torchrun --standalone --nnodes=1 --nproc-per-node=8 -m verl\.trainer\.sft_trainer /);
    assert.equal(JSON.parse(readFileSync(join(dir, "job.json"), "utf8")).entrypoint_num_gpus, 8);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the merge job: verl's model merger for the commit that wrote the checkpoint", () => {
  const actor = "/shared/ckpt/med-vlrm/exp/global_step_50/actor";
  assert.equal(mergeEntrypoint({ actorDir: actor, targetDir: "/shared/merged/exp-step_50", target: "head" }), `python3 -m verl.model_merger merge --backend fsdp --local_dir ${actor} --target_dir /shared/merged/exp-step_50`);
  assert.equal(mergeEntrypoint({ actorDir: actor, targetDir: "/m", target: "pinned", verlDir: "/opt/verl" }), `python3 /opt/verl/scripts/model_merger.py merge --backend fsdp --local_dir ${actor} --target_dir /m`);
  assert.throws(() => mergeEntrypoint({ actorDir: actor, targetDir: "/m", target: "pinned" }), /--verl-dir/);
  const spec = mergeJobSpec({ actorDir: actor, targetDir: "/m", target: "head" });
  assert.equal(spec.entrypoint_num_gpus, undefined, "merging needs CPU RAM, not GPUs");
  assert.equal(spec.metadata.kind, "verl-merge");
});

test("prompt counting with a tokenizer.json is exact (chat template specials as one token each) and below the bound", () => {
  const dir = mkdtempSync(join(tmpdir(), "tok-"));
  try {
    const texts = ["Question: which finding is shown on the chest radiograph?", "Options: A. Effusion B. Pneumothorax", "You will solve a problem/request."];
    const json = fitTokenizerJson(texts.flatMap((t) => [t, t, t]), 300) as { added_tokens: { id: number; content: string }[]; model: { vocab: Record<string, number> } };
    let next = Math.max(...Object.values(json.model.vocab)) + 1;
    for (const content of ["<|im_start|>", "<|im_end|>"]) {
      json.added_tokens.push({ id: next, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true } as never);
      json.model.vocab[content] = next++;
    }
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(json));
    const exact = promptCounter(join(dir, "tokenizer.json"));
    assert.equal(exact.kind, "exact");
    const tok = new Tokenizer(json as never, {});
    const text = texts.join("\n\n");
    const ids = tok.encode(`<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n${text}<|im_end|>\n<|im_start|>assistant\n`, { add_special_tokens: false }).ids;
    assert.equal(ids.filter((i) => i === json.model.vocab["<|im_start|>"]).length, 3, "each <|im_start|> is one token");
    assert.equal(exact.count(text, [326, 83]), ids.length + 326 + 83);
    assert.ok(exact.count(text, [326]) < promptCounter().count(text, [326]), "BPE merges make the exact count smaller than the byte bound");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("held-out items become verl's validation files; without them validation is off", async () => {
  const dir = mkdtempSync(join(tmpdir(), "verl-val-"));
  try {
    const items = (await makeItems()).filter((it) => !it.images && it.dataset_index < 998);
    const config = parseGrpoConfig({ preset: "published" });
    const m = await writeGrpoBundle(join(dir, "a"), { config, items: items.slice(0, 3), valItems: items.slice(3), target: "pinned" });
    assert.deepEqual(m.val_files, ["./data/val-text.parquet"]);
    assert.equal(m.counts.val_rows, items.length - 3);
    const rows = await readVerlRows(join(dir, "a", "data", "val-text.parquet"));
    assert.ok(rows.every((r) => r.extra_info.split === "test"));
    assert.match(m.entrypoint, /data\.val_files=\.\/data\/val-text\.parquet/);
    assert.match(m.entrypoint, /trainer\.test_freq=50/);
    assert.doesNotMatch(m.entrypoint, /val_before_train/);
    const n = await writeGrpoBundle(join(dir, "b"), { config, items: items.slice(0, 3), target: "pinned" });
    assert.match(n.entrypoint, /trainer\.test_freq=-1 /);
    assert.match(n.entrypoint, /trainer\.val_before_train=False/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
