package model

import (
	"fmt"
	"slices"
)

// A decoder layer is described once, as data: Config.LayerOps lists its operations in order,
// each reading and writing named values (Slot) of the layer. The inference pass
// (Model.Forward) and package train's training graph both interpret that list, each with one
// case per OpKind, so a layer that differs only in which operations it runs on which values
// (another norm, a norm in another place, another architecture built of these operations) is
// a change to the list below and nothing else.

// Slot names a value of a decoder layer.
type Slot uint8

// The values of a decoder layer. A layer reads and updates the residual stream X; the others
// are its activations, [tokens, Config.SlotWidth].
const (
	SlotX    Slot = iota // the residual stream
	SlotH                // the normalised stream the projections read
	SlotQ                // queries
	SlotK                // keys
	SlotV                // values
	SlotAttn             // the attention's output
	SlotGate             // the MLP's gate projection, then its activation
	SlotUp               // the MLP's up projection
	NumSlots
)

var slotNames = [NumSlots]string{"x", "h", "q", "k", "v", "attn", "gate", "up"}

// String is the slot's name ("x", "h", "q", ...).
func (s Slot) String() string {
	if s < NumSlots {
		return slotNames[s]
	}
	return fmt.Sprintf("Slot(%d)", int(s))
}

// SlotWidth is the number of values a token has in slot s.
func (c *Config) SlotWidth(s Slot) int {
	switch s {
	case SlotQ, SlotAttn:
		return c.NumHeads * c.HeadDim
	case SlotK, SlotV:
		return c.NumKVHeads * c.HeadDim
	case SlotGate, SlotUp:
		return c.IntermediateSize
	}
	return c.HiddenSize
}

// OpKind is what a LayerOp computes.
type OpKind uint8

// The operations of a decoder layer.
const (
	// OpNorm: Out = RMSNorm(In) with the layer's weight Norm, over each run of len(weight)
	// values (a token's stream, or one head of it).
	OpNorm OpKind = iota
	// OpProject: Out = the projection Proj of In, with the adapter's update; with Residual,
	// Out += it.
	OpProject
	// OpRope: In rotated in place by its tokens' position angles (Model.Rope), head by head.
	OpRope
	// OpAttention: attn = causal grouped-query attention of q over k and v, scaled by
	// 1/√head_dim.
	OpAttention
	// OpSwiGLU: gate = silu(gate) · up.
	OpSwiGLU
)

// Norm names a norm weight of a layer.
type Norm uint8

// The norm weights of a layer.
const (
	NormInput Norm = iota // Layer.InputNorm
	NormPost              // Layer.PostNorm
	NormQ                 // Layer.QNorm (Config.QKNorm: Qwen3)
	NormK                 // Layer.KNorm (Config.QKNorm: Qwen3)
)

var normNames = [...]string{NormInput: "input_norm", NormPost: "post_norm", NormQ: "q_norm", NormK: "k_norm"}

// String is the norm's name ("input_norm", "post_norm", "q_norm", "k_norm").
func (n Norm) String() string {
	if int(n) < len(normNames) {
		return normNames[n]
	}
	return fmt.Sprintf("Norm(%d)", int(n))
}

// Norm returns the layer's weight n (nil for an unknown n, or a q/k norm of a layer without
// one).
func (L *Layer) Norm(n Norm) []float32 {
	switch n {
	case NormInput:
		return L.InputNorm
	case NormPost:
		return L.PostNorm
	case NormQ:
		return L.QNorm
	case NormK:
		return L.KNorm
	}
	return nil
}

// LayerOp is one operation of a decoder layer.
type LayerOp struct {
	Kind     OpKind
	In, Out  Slot // the value read and the one written (OpRope: the same, rotated in place)
	Norm     Norm // OpNorm
	Proj     Proj // OpProject
	Residual bool // OpProject: add into Out rather than write it
}

// String describes the operation ("q = q_proj(h)", "x += o_proj(attn)", "k = k_norm(k)").
func (o LayerOp) String() string {
	switch o.Kind {
	case OpNorm:
		return fmt.Sprintf("%v = %v(%v)", o.Out, o.Norm, o.In)
	case OpProject:
		if o.Residual {
			return fmt.Sprintf("%v += %v(%v)", o.Out, o.Proj, o.In)
		}
		return fmt.Sprintf("%v = %v(%v)", o.Out, o.Proj, o.In)
	case OpRope:
		return fmt.Sprintf("%v = rope(%v)", o.In, o.In)
	case OpAttention:
		return "attn = attention(q, k, v)"
	case OpSwiGLU:
		return "gate = silu(gate) * up"
	}
	return fmt.Sprintf("OpKind(%d)", int(o.Kind))
}

func norm(n Norm, in, out Slot) LayerOp { return LayerOp{Kind: OpNorm, Norm: n, In: in, Out: out} }
func project(p Proj, in, out Slot) LayerOp {
	return LayerOp{Kind: OpProject, Proj: p, In: in, Out: out}
}
func residual(p Proj, in Slot) LayerOp {
	return LayerOp{Kind: OpProject, Proj: p, In: in, Out: SlotX, Residual: true}
}
func rope(s Slot) LayerOp { return LayerOp{Kind: OpRope, In: s, Out: s} }

// The layers of the supported architectures: Llama's (Llama 3.x, Falcon3), and Qwen3's, which
// normalises each head of q and k before the rotation.
var (
	llamaOps = []LayerOp{
		norm(NormInput, SlotX, SlotH),
		project(ProjQ, SlotH, SlotQ), project(ProjK, SlotH, SlotK), project(ProjV, SlotH, SlotV),
		rope(SlotQ), rope(SlotK),
		{Kind: OpAttention},
		residual(ProjO, SlotAttn),
		norm(NormPost, SlotX, SlotH),
		project(ProjGate, SlotH, SlotGate), project(ProjUp, SlotH, SlotUp),
		{Kind: OpSwiGLU},
		residual(ProjDown, SlotGate),
	}
	qwen3Ops = slices.Insert(slices.Clone(llamaOps), 4, norm(NormQ, SlotQ, SlotQ), norm(NormK, SlotK, SlotK))
)

// LayerOps returns the operations of one decoder layer of a model of config c, in order (a
// fresh slice).
func (c *Config) LayerOps() []LayerOp { return slices.Clone(c.layerOps()) }

// layerOps is LayerOps without the copy (the forward pass's, which allocates nothing).
func (c *Config) layerOps() []LayerOp {
	if c.QKNorm {
		return qwen3Ops
	}
	return llamaOps
}
