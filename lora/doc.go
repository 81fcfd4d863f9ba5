// Package lora holds low-rank adapters (LoRA) for the projections of a model: their
// configuration, initialisation as PEFT does it, the adapter's contribution at inference,
// merging into and unmerging from the base weights, and files in PEFT's format
// (adapter_config.json + adapter_model.safetensors) that PEFT loads as they are.
//
// For a projection y = x Wᵀ with W of shape [out, in], an adapter adds
// scale · (x Aᵀ) Bᵀ with A [rank, in] and B [out, rank]; scale is alpha/rank, or
// alpha/sqrt(rank) with rsLoRA. Training the matrices is package train's job.
package lora
