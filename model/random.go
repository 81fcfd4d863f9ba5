package model

import (
	"math/rand/v2"
	"slices"

	"github.com/valora-go/valora/internal/kern"
)

// Qwen3_0_6BConfig returns the shape of Qwen/Qwen3-0.6B, for benchmarks with Random (a fresh
// value each call: callers may change it freely).
func Qwen3_0_6BConfig() Config {
	return Config{
		Architecture: "Qwen3ForCausalLM", ModelType: "qwen3", VocabSize: 151936, HiddenSize: 1024,
		IntermediateSize: 3072, NumLayers: 28, NumHeads: 16, NumKVHeads: 8, HeadDim: 128,
		RMSNormEps: 1e-6, RopeTheta: 1e6, Rope: RopeScaling{Type: "default"}, MaxPositions: 40960,
		TieWordEmbeddings: true, QKNorm: true, BOSTokenID: -1, DType: "float32",
	}
}

// Random builds an in-memory float32 model of the given shape with weights drawn from
// N(0, 0.02²) and unit norms, seeded: for benchmarks and tests that need a model of a real
// shape without its checkpoint.
func Random(c Config, seed uint64) (*Model, error) {
	if err := c.validateShape(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	mat := func(rows, cols int) *kern.Weight {
		w := &kern.Weight{Rows: rows, Cols: cols, DType: kern.F32, F32: make([]float32, rows*cols)}
		for i := range w.F32 {
			w.F32[i] = float32(rng.NormFloat64() * 0.02)
		}
		return w
	}
	ones := func(n int) []float32 { return slices.Repeat([]float32{1}, n) }
	m := &Model{Config: c, Embed: mat(c.VocabSize, c.HiddenSize), Norm: ones(c.HiddenSize)}
	m.LMHead = m.Embed
	if !c.TieWordEmbeddings {
		m.LMHead = mat(c.VocabSize, c.HiddenSize)
	}
	m.Layers = make([]Layer, c.NumLayers)
	for l := range m.Layers {
		L := &m.Layers[l]
		L.InputNorm, L.PostNorm = ones(c.HiddenSize), ones(c.HiddenSize)
		if c.QKNorm {
			L.QNorm, L.KNorm = ones(c.HeadDim), ones(c.HeadDim)
		}
		for p := range NumProj {
			s := c.ProjShape(p)
			L.Proj[p] = mat(s[0], s[1])
		}
	}
	if err := m.initRope(); err != nil {
		return nil, err
	}
	m.packPanels()
	return m, nil
}
