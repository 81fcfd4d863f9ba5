// Package lora holds low-rank adapters (LoRA) for the projections of a model: their
// configuration, initialisation as PEFT does it, the adapter's contribution at inference,
// merging into and unmerging from the base weights, and files in PEFT's format
// (adapter_config.json + adapter_model.safetensors) that PEFT loads as they are. Adapters are
// read from a directory (Load), any fs.FS (LoadFS) or bytes (LoadBytes, ParseConfig), and
// written to a directory (Save) or as bytes (MarshalConfig, WriteWeights), so that they can
// live in a database, an object store or an embedded file system.
//
// A forward pass refuses an adapter made for a model of another shape (CheckModel), and a nil
// *Adapter is no adapter. Merge and Unmerge change the shared model: they wait for its forward
// passes in flight and hold new ones back while they run (model.Model.Exclusive).
//
// For a projection y = x Wᵀ with W of shape [out, in], an adapter adds
// scale · (x Aᵀ) Bᵀ with A [rank, in] and B [out, rank]; scale is alpha/rank, or
// alpha/sqrt(rank) with rsLoRA. Training the matrices is package train's job.
package lora
