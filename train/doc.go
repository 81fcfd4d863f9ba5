// Package train fine-tunes LoRA adapters in process.
//
// Engine builds the training forward pass of a model with an adapter as a gorgonia expression
// graph (one per batch shape) in which the adapter's matrices are the only inputs that receive
// gradients; custom ops with hand-written backward passes call the same kernels as the
// inference pass, and frozen weights are referenced, never copied. Accumulate adds the
// gradient of a batch's answer-token loss, Step applies AdamW as torch.optim.AdamW does.
//
// Trainer runs answer-only supervised fine-tuning on (prompt, answer) token pairs: length
// bucketing, gradient accumulation normalised per answer token, warm-up schedules, validation
// and early stopping with the best adapter restored, atomic checkpoints that resume bit for
// bit, a JSONL metrics log and a progress bar. Encode turns text pairs into examples through
// the same prompt path the scorer reads ratings from.
package train
