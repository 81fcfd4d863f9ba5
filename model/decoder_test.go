package model

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLayerOps checks each architecture's layer, written out as transformers' modeling files
// compute it: Llama's, and Qwen3's with the per-head q/k norm between the projections and the
// rotation. The list returned is the caller's own.
func TestLayerOps(t *testing.T) {
	llama := []string{"h = input_norm(x)", "q = q_proj(h)", "k = k_proj(h)", "v = v_proj(h)",
		"q = rope(q)", "k = rope(k)", "attn = attention(q, k, v)", "x += o_proj(attn)",
		"h = post_norm(x)", "gate = gate_proj(h)", "up = up_proj(h)", "gate = silu(gate) * up", "x += down_proj(gate)"}
	qwen3 := slices.Insert(slices.Clone(llama), 4, "q = q_norm(q)", "k = k_norm(k)")
	for _, tc := range []struct {
		name   string
		qkNorm bool
		want   []string
	}{{"llama", false, llama}, {"qwen3", true, qwen3}} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{QKNorm: tc.qkNorm}
			ops := c.LayerOps()
			var got []string
			for _, op := range ops {
				got = append(got, op.String())
			}
			require.Equal(t, tc.want, got)
			ops[0] = LayerOp{Kind: OpSwiGLU}
			require.Equal(t, OpNorm, c.LayerOps()[0].Kind, "changing the returned list changed the config's")
		})
	}
	require.Equal(t, "Slot(200)", Slot(200).String())
	require.Equal(t, "Norm(9)", Norm(9).String())
	require.Equal(t, "OpKind(9)", LayerOp{Kind: 9}.String())
}

// TestSlotsAndNorms checks the width of each value and the weight each norm names.
func TestSlotsAndNorms(t *testing.T) {
	c := &Config{HiddenSize: 64, NumHeads: 4, NumKVHeads: 2, HeadDim: 8, IntermediateSize: 96}
	for s, want := range map[Slot]int{SlotX: 64, SlotH: 64, SlotQ: 32, SlotK: 16, SlotV: 16, SlotAttn: 32, SlotGate: 96, SlotUp: 96} {
		require.Equal(t, want, c.SlotWidth(s), "slot %v", s)
	}
	L := &Layer{InputNorm: make([]float32, 1), PostNorm: make([]float32, 2), QNorm: make([]float32, 3), KNorm: make([]float32, 4)}
	for n, want := range map[Norm][]float32{NormInput: L.InputNorm, NormPost: L.PostNorm, NormQ: L.QNorm, NormK: L.KNorm} {
		require.Len(t, L.Norm(n), len(want), "norm %v", n)
	}
	require.Nil(t, L.Norm(9))
}
