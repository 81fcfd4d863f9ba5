// Package train fine-tunes LoRA adapters in process.
//
// Engine builds the training forward pass of a model with an adapter as a gorgonia expression
// graph (one per batch shape) in which the adapter's matrices are the only inputs that receive
// gradients; custom ops with hand-written backward passes call the same kernels as the
// inference pass, and frozen weights are referenced, never copied. Each layer is built by
// interpreting model's Config.LayerOps, the list of operations the inference pass runs too,
// so the two cannot drift apart. Accumulate adds the gradient of a batch's answer-token loss,
// Step applies AdamW as torch.optim.AdamW does.
//
// Memory: the weights are held once in their stored precision (a checkpoint is memory-mapped
// by model.Load, bfloat16 stays bfloat16), the adapter's matrices, gradients and AdamW moments
// in float32 (16 bytes a parameter), the step's activations in a pool reused across steps.
// With gradient checkpointing (Engine.Checkpointing, Config.Checkpointing) the forward pass
// keeps only each layer's input and the backward pass recomputes one layer at a time, with the
// same loss and gradients bit for bit. EstimateMemory adds the parts up (within 15% of the
// measured peak); PlanMemory, and New before a run, compare the estimate with the memory
// available and fail with what would fit: checkpointing, a smaller batch, a lower rank.
// Llama-3.1-8B, Qwen3-8B and Falcon3-7B in bfloat16 with rank 128 on all seven projections
// train at batch 4 x 96 in about 19-20 GiB with checkpointing (memory.go).
//
// Trainer runs answer-only supervised fine-tuning on (prompt, answer) token pairs: length
// bucketing, gradient accumulation normalised per answer token, a linear warm-up then a
// constant or linearly decaying learning rate (Config.Schedule: ScheduleConstant or
// ScheduleLinear), validation and early stopping with the best adapter restored, atomic
// checkpoints that resume bit for bit, a JSONL metrics log and a progress bar. Config.OnStep
// and Config.OnEval receive every step's and validation's metrics (StepMetrics, EvalMetrics)
// and may stop the run (ErrStop); a cancelled or failed run still returns the Result of its
// steps, with the best adapter so far restored. Encode turns text pairs into examples through
// the same prompt path (and the same tokenize.Chat format) the scorer reads ratings from.
package train
