package model

import (
	"fmt"
	"slices"
)

// DecoderStep is one computation of a decoder layer. DecoderSteps lists a config's steps in
// order; the inference pass (Model.Forward) and package train's training graph both walk that
// list, so a change to the layer (a new norm, another architecture's variant) is made here and
// in each walker's handling of a step. A layer reads and updates the residual stream x; h is
// the normalised stream the projections read, q, k, v, attn, gate and up its activations.
type DecoderStep uint8

// The steps of a decoder layer.
const (
	StepInputNorm DecoderStep = iota // h = RMSNorm(x) with Layer.InputNorm
	StepQKV                          // q, k, v = the q, k and v projections of h (with the adapter's updates)
	StepQKNorm                       // q, k = per-head RMSNorm with Layer.QNorm and Layer.KNorm (Config.QKNorm: Qwen3)
	StepRope                         // q, k rotated by their positions' angles (Model.Rope)
	StepAttention                    // attn = causal grouped-query attention of q over k and v, scaled by 1/√head_dim
	StepAttnOut                      // x += the o projection of attn
	StepPostNorm                     // h = RMSNorm(x) with Layer.PostNorm
	StepGateUp                       // gate, up = the gate and up projections of h
	StepSwiGLU                       // gate = silu(gate) · up
	StepMLPOut                       // x += the down projection of gate
)

var stepNames = [...]string{"input_norm", "qkv", "qk_norm", "rope", "attention", "attn_out", "post_norm", "gate_up", "swiglu", "mlp_out"}

// String returns the step's name ("input_norm", "qk_norm", ...).
func (s DecoderStep) String() string {
	if int(s) < len(stepNames) {
		return stepNames[s]
	}
	return fmt.Sprintf("step(%d)", uint8(s))
}

// The step lists of the supported layers: Llama's, and Qwen3's with its q/k norm.
var (
	llamaSteps = []DecoderStep{StepInputNorm, StepQKV, StepRope, StepAttention, StepAttnOut, StepPostNorm, StepGateUp, StepSwiGLU, StepMLPOut}
	qwen3Steps = []DecoderStep{StepInputNorm, StepQKV, StepQKNorm, StepRope, StepAttention, StepAttnOut, StepPostNorm, StepGateUp, StepSwiGLU, StepMLPOut}
)

// DecoderSteps returns the computation of one decoder layer of a model of config c, in order
// (a fresh slice).
func (c *Config) DecoderSteps() []DecoderStep { return slices.Clone(c.decoderSteps()) }

// decoderSteps is DecoderSteps without the copy (the forward pass's, which allocates nothing).
func (c *Config) decoderSteps() []DecoderStep {
	if c.QKNorm {
		return qwen3Steps
	}
	return llamaSteps
}
