/**
 * The embedded model's tokenizer: byte-level BPE fitted to the project's corpus (bpe.ts), saved as
 * a standard Hugging Face tokenizer.json that @huggingface/tokenizers (and Python `tokenizers`)
 * load, with the special tokens of the chat format.
 */
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";
import { trainBpe } from "./bpe";
import { writeFileAtomic } from "../atomic";

/** Special tokens, in id order after the BPE vocabulary. */
export const SPECIAL_TOKENS = {
  pad: "<|pad|>",
  end: "<|end|>",
  user: "<|user|>",
  assistant: "<|assistant|>",
  image: "<image>",
  thinkOpen: "<think>",
  thinkClose: "</think>",
  answerOpen: "<answer>",
  answerClose: "</answer>",
} as const;
export type SpecialName = keyof typeof SPECIAL_TOKENS;
const SPECIAL_LIST = Object.values(SPECIAL_TOKENS);
/** Control tokens (never part of visible text); the tag tokens decode as text. */
const CONTROL = new Set<string>([SPECIAL_TOKENS.pad, SPECIAL_TOKENS.end, SPECIAL_TOKENS.user, SPECIAL_TOKENS.assistant, SPECIAL_TOKENS.image]);

/** Build a tokenizer.json object (HF format) by fitting BPE to `texts`. */
export function fitTokenizerJson(texts: Iterable<string>, vocabSize: number): Record<string, unknown> {
  const { vocab, merges } = trainBpe(texts, vocabSize, SPECIAL_LIST.length);
  const base = Object.keys(vocab).length;
  const added = SPECIAL_LIST.map((content, i) => ({
    id: base + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: CONTROL.has(content),
  }));
  for (const a of added) vocab[a.content] = a.id;
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => [a, b]),
    },
  };
}

/** Encode/decode plus the special ids the model needs. */
export class TextTokenizer {
  readonly hf: Tokenizer;
  readonly vocabSize: number;
  readonly ids: Record<SpecialName, number>;

  constructor(readonly json: Record<string, unknown>) {
    this.hf = new Tokenizer(json, { clean_up_tokenization_spaces: false });
    const vocab = (json.model as { vocab: Record<string, number> }).vocab;
    this.vocabSize = Object.keys(vocab).length;
    const ids = {} as Record<SpecialName, number>;
    for (const [name, tok] of Object.entries(SPECIAL_TOKENS) as [SpecialName, string][]) {
      const id = vocab[tok];
      if (id === undefined) throw new Error(`tokenizer.json lacks special token '${tok}' (${name})`);
      ids[name] = id;
    }
    this.ids = ids;
  }

  encode(text: string): number[] {
    return this.hf.encode(text, { add_special_tokens: false }).ids;
  }

  /** Decode, dropping control tokens (pad, end, turn markers, image) but keeping tags. */
  decode(ids: number[]): string {
    const skip = new Set([this.ids.pad, this.ids.end, this.ids.user, this.ids.assistant, this.ids.image]);
    const kept = ids.filter((i) => !skip.has(i));
    // @huggingface/tokenizers throws on an empty list; a completion that is only an end token is "".
    if (kept.length === 0) return "";
    return this.hf.decode(kept, { skip_special_tokens: false });
  }

  save(path: string): void {
    writeFileAtomic(path, JSON.stringify(this.json));
  }

  static load(path: string): TextTokenizer {
    return new TextTokenizer(JSON.parse(readFileSync(path, "utf8")));
  }

  static fit(texts: Iterable<string>, vocabSize: number): TextTokenizer {
    return new TextTokenizer(fitTokenizerJson(texts, vocabSize));
  }
}
