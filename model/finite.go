package model

import (
	"fmt"
	"math"

	"github.com/valora-go/valora/internal/kern"
)

// CheckFinite scans every weight of m for NaN and infinities and names the first tensor that
// holds one. Load checks the norm vectors itself (they are small); the projections and
// embeddings are not scanned at load, which would read every page of a memory-mapped
// checkpoint (about a second a gigabyte): call CheckFinite once before trusting a checkpoint
// from an unknown source, or when a forward pass produces non-finite logits. It is a pass (see
// Model): after Close it returns an error wrapping ErrClosed.
func (m *Model) CheckFinite() error {
	if err := m.enter("check finite"); err != nil {
		return err
	}
	defer m.leave()
	return m.checkFinite()
}

// checkFinite is CheckFinite inside a pass.
func (m *Model) checkFinite() error {
	if err := m.checkNorms(); err != nil {
		return err
	}
	check := func(name string, w *kern.Weight) error {
		if i, v := nonFiniteWeight(w); i >= 0 {
			return fmt.Errorf("model: %s: tensor %s holds a non-finite value (%v at index %d)", m.Dir, name, v, i)
		}
		return nil
	}
	if err := check("model.embed_tokens.weight", m.Embed); err != nil {
		return err
	}
	if m.LMHead != m.Embed {
		if err := check("lm_head.weight", m.LMHead); err != nil {
			return err
		}
	}
	for l := range m.Layers {
		for p := Proj(0); p < NumProj; p++ {
			if err := check(fmt.Sprintf("model.layers.%d.%s.weight", l, p.Module()), m.Layers[l].Proj[p]); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkNorms refuses norm weights with non-finite values.
func (m *Model) checkNorms() error {
	vec := func(name string, v []float32) error {
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("model: %s: tensor %s holds a non-finite value (%v at index %d)", m.Dir, name, x, i)
			}
		}
		return nil
	}
	if err := vec("model.norm.weight", m.Norm); err != nil {
		return err
	}
	for l, L := range m.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		for _, nv := range []struct {
			n string
			v []float32
		}{{"input_layernorm.weight", L.InputNorm}, {"post_attention_layernorm.weight", L.PostNorm}, {"self_attn.q_norm.weight", L.QNorm}, {"self_attn.k_norm.weight", L.KNorm}} {
			if err := vec(p+nv.n, nv.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// nonFiniteWeight returns the row-major index and the value of the first NaN or infinity of
// w, or -1.
func nonFiniteWeight(w *kern.Weight) (int, float32) {
	if w == nil {
		return -1, 0
	}
	switch w.DType {
	case kern.F32:
		for i, x := range w.F32 {
			if x-x != 0 {
				return w.RowMajor(i), x
			}
		}
	case kern.BF16:
		for i, h := range w.Half {
			if h&0x7f80 == 0x7f80 {
				return i, math.Float32frombits(uint32(h) << 16)
			}
		}
	case kern.F16:
		for i, h := range w.Half {
			if h&0x7c00 == 0x7c00 {
				if h&0x3ff != 0 {
					return i, float32(math.NaN())
				}
				return i, float32(math.Inf(1))
			}
		}
	}
	return -1, 0
}

// firstNonFinite returns the index of the first NaN or infinity in x, or -1.
func firstNonFinite(x []float32) int {
	for i, v := range x {
		if v-v != 0 {
			return i
		}
	}
	return -1
}
