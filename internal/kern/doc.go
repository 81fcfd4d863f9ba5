// Package kern holds valora's numerical kernels: the one implementation of each
// equation (matrix products, RMSNorm, rotary embeddings, causal attention,
// SwiGLU, softmax / cross-entropy, AdamW) shared by inference in the model
// package and by the custom gorgonia ops used for LoRA training.
//
// Conventions:
//
//   - Every tensor is a row-major []float32 slice; shapes are given by the
//     caller (for example attention tensors are [B, T, H, D]).
//   - Weights are frozen [out, in] matrices laid out as in a Hugging Face
//     nn.Linear (see Weight); they stay in their on-disk precision (F32, BF16 or
//     F16) and half-precision rows are decoded to float32 in small tiles only.
//   - All maths is float32, following Hugging Face transformers running in
//     float32 (the parity reference), with float64 used only where it makes a
//     reduction more accurate (row sums, losses).
//   - Kernels do not allocate on hot paths beyond pooled scratch, and split large
//     work across goroutines with ParallelFor while running tiny sizes inline.
//   - Outputs are overwritten unless a function says it accumulates.
//
// Kernels panic on inconsistent slice lengths, like the built-in indexing they
// wrap: validation of user input (shapes read from files) belongs to the
// callers, which should check shapes before calling (Weight.Validate helps).
package kern
