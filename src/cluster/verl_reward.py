"""MedVLThinker's RLVR reward as verl's custom reward function (custom_reward_function.path).

Written by medvlthinker-ts `cluster export`; the TypeScript reward (src/reward.ts, computeScore) is
the reference and a test runs both on the same responses. Published rule (train/my_reward.py):
  1. the whole response must match <think>.*?</think>\\s*<answer>.*?</answer> (DOTALL), else 0;
  2. the answer is the first <answer>(.*?)</answer> WITHOUT DOTALL (else the whole response), stripped;
  3. 1.0 if, lowercased, it equals "{letter}. {text}", the letter or the option text (each stripped
     and lowercased), else 0.0.
verl calls compute_score(data_source=, solution_str=, ground_truth=, extra_info=) with the response
decoded with skip_special_tokens=True.
"""
import re

_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>")


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    answer = extra_info["answer"]
    if answer != ground_truth:
        raise ValueError(f"Answer mismatch: {answer} != {ground_truth}")
    if _FORMAT.fullmatch(solution_str) is None:
        return 0.0
    m = _ANSWER.search(solution_str)
    pred = (m.group(1) if m else solution_str).strip().lower()
    label = extra_info["answer_label"]
    for candidate in (f"{label}. {answer}", label, answer):
        if pred == candidate.strip().lower():
            return 1.0
    return 0.0
