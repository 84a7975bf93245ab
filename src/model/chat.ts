/**
 * The embedded model's chat format (its own, like a chat template):
 *   <|user|> [<image> x imageTokens per image] {prompt text} <|end|> <|assistant|> {completion} <|end|>
 * Prompt text comes from buildPrompt(item) (src/prompt.ts); images come first, as verl places them.
 */
import { imageTokens, type ModelConfig } from "./config";
import type { TextTokenizer } from "./tokenizer";

export interface ChatIds {
  ids: number[];
  /** Index of the first completion token (= prompt length). */
  promptLength: number;
}

/**
 * Token ids of a prompt turn, ready for the assistant to continue. If it would not leave
 * `reserve` positions in the context, text tokens are dropped from the middle (the start of the
 * question and the options at the end are kept), and `truncated` says so.
 */
export function promptIds(tok: TextTokenizer, text: string, nImages: number, c: ModelConfig, reserve = 0): { ids: number[]; truncated: boolean } {
  const images = Math.min(nImages, c.maxImages);
  const head = [tok.ids.user, ...new Array<number>(images * imageTokens(c)).fill(tok.ids.image)];
  let body = tok.encode(text);
  const tail = [tok.ids.end, tok.ids.assistant];
  const room = c.maxSeq - 1 - reserve - head.length - tail.length;
  let truncated = false;
  if (body.length > room) {
    if (room < 8) throw new RangeError(`context ${c.maxSeq} leaves no room for the prompt (reserve ${reserve})`);
    const keepEnd = Math.floor(room * 0.6);
    body = [...body.slice(0, room - keepEnd), ...body.slice(body.length - keepEnd)];
    truncated = true;
  }
  return { ids: [...head, ...body, ...tail], truncated };
}

/** Prompt + completion + end token, for SFT and scoring. */
export function chatIds(tok: TextTokenizer, prompt: string, completion: string, nImages: number, c: ModelConfig): ChatIds {
  const p = promptIds(tok, prompt, nImages, c).ids;
  const comp = [...tok.encode(completion), tok.ids.end];
  return { ids: [...p, ...comp], promptLength: p.length };
}
