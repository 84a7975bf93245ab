/**
 * Policies in one import (the package's `medvlthinker-ts/policy`): the Policy interface, the
 * OpenAI-compatible HTTP client (vLLM, SGLang, llama.cpp, Ollama) and the embedded model.
 */
export * from "./policy";
export * from "./openai";
export * from "./embedded";
