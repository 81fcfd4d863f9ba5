// Package score reads the probabilities of candidate continuations from a language model: the
// scorer core that the benchmarks of package eval, the MACHIAVELLI agents of eval/machiavelli
// and the survey read-outs of package survey build on.
//
// A Prompt is a user text and the start of the answer (Prefix); a Scorer gives the
// log-probability of each candidate continuation of each prompt, and Normalize turns them into
// probabilities over the candidates. ModelScorer (New) is the Scorer over a *model.Model and
// its tokenizer, optionally through the chat template and with a LoRA adapter: prompts run in
// forward batches of Options.BatchSize, a prefix that the prompts of a batch share is computed
// once, and the later tokens of multi-token candidates continue the prompts' key/value cache.
// It also generates text (Generator, GenerateOptions). Open (and OpenFS) load a checkpoint
// directory, its tokenizer, generation config and an adapter in one call and return a Session
// holding a ready ModelScorer.
package score
