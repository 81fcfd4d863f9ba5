// Package model loads decoder-only transformer checkpoints in Hugging Face layout
// (LlamaForCausalLM: Llama 3.x, Falcon3; Qwen3ForCausalLM) and runs their forward pass in Go.
//
// A checkpoint directory holds config.json and model.safetensors, or shards listed in
// model.safetensors.index.json. Load memory-maps the weights and uses them in their on-disk
// precision (float32, bfloat16 or float16): each weight is held in memory once. LoadFS reads
// the same files from any fs.FS (an embed.FS, an archive) into memory. Every tensor's name,
// dtype and shape is checked against the config before use.
//
// A Model is shared by concurrent forward passes. Close waits for the passes in flight and
// makes later ones fail with ErrClosed; Exclusive runs a change of the weights (lora's Merge)
// with no pass in flight. An adapter that was made for a model of another shape is an error
// (CheckAdapter), not a crash.
//
// The forward pass reproduces transformers' float32 computation: token embedding, RMSNorm,
// rotary position embeddings (rotate-half layout, llama3 frequency scaling), causal grouped-query
// attention with optional left padding, SwiGLU MLP, Qwen3's per-head q/k norm, final norm and
// the LM head, evaluated at all positions or only at the positions asked for. An Adapter
// (package lora implements one) can add a low-rank update to any projection. A Cache keeps the
// keys and values of a prefix so that later passes (generation steps, candidate answers after
// a shared prompt) only compute the new tokens.
//
// A decoder layer's computation is described once, as data: Config.LayerOps lists its
// operations (norm, projection, rotation, attention, SwiGLU) over the layer's named values
// (Slot), and the forward pass and package train's training graph both interpret that list.
// The weights are exposed as Weight (a frozen matrix in its stored DType) and the rotary
// tables as Rope, for package lora's merge and package train's graph; Random builds a model
// of any shape (Qwen3_0_6BConfig is a real one) for benchmarks.
package model
