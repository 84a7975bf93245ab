// The closed-VQA options rule (closed-options.ts): cases taken from the real VQA-RAD / SLAKE questions.
import assert from "node:assert/strict";
import { test } from "node:test";
import { closedOptions } from "../src/data/closed-options";

const cases: [string, string, string[], number, string][] = [
  ["Is there a fracture?", "no", ["Yes", "No"], 1, "yes-no"],
  ["Is this normal?", " Yes ", ["Yes", "No"], 0, "yes-no"],
  ["Which organ is abnormal, heart or lung?", "Lung", ["Heart", "Lung"], 1, "list"],
  ["Which is the biggest in this image,lung,liver or heart?", "Liver", ["Lung", "Liver", "Heart"], 1, "list"],
  ["Which type of modality is shown about this image, MRI, CT or X-Ray?", "CT", ["MRI", "CT", "X-Ray"], 1, "list"],
  ["Which is bigger in this image, kidney or spleen?", "Liver", ["Kidney", "Spleen", "Liver"], 2, "list+answer"],
  ["Is this a T1 weighted or T2 weighted MRI image?", "T2", ["T1", "T2"], 1, "or"],
  ["Is the gastric bubble shown on the left or right side of the patient?", "Right side", ["Left side", "Right side"], 1, "or"],
  ["Is this an MRI or a CT scan?", "MRI", ["MRI", "CT"], 0, "or"],
  ["Is this a T1 weighted, T2 weighted, or FLAIR image?", "FLAIR", ["T1 weighted", "T2 weighted", "FLAIR"], 2, "or"],
];

for (const [q, a, options, idx, rule] of cases) {
  test(`${q} -> ${a}`, () => {
    const c = closedOptions(q, a);
    assert.ok(c);
    assert.deepEqual(c.options, options);
    assert.equal(c.answerIndex, idx);
    assert.equal(c.rule, rule);
  });
}

test("the rule is a heuristic: every closed key is among its options even when a distractor reads oddly", () => {
  // Known imperfection (documented in data-cards/vqa-rad.md): the distractor here is "Pneumonia effusion".
  const c = closedOptions("Is this a pneumonia vs. pleural effusion?", "pleural effusion")!;
  assert.equal(c.options[c.answerIndex], "pleural effusion");
  assert.equal(c.options.length, 2);
});

test("no alternatives and not yes/no: null (the loader keeps the item as open and reports it)", () => {
  assert.equal(closedOptions("Is this an infectious process?", "Maybe"), null);
  assert.equal(closedOptions("In which lobe are the lesions?", "Bilateral frontal lobes"), null);
});
