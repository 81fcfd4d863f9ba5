package lora

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/model"
)

// Config describes an adapter. The zero value is not useful: start from DefaultConfig.
type Config struct {
	Rank    int          // r
	Alpha   float64      // lora_alpha
	Dropout float64      // dropout on the adapter input while training (0 disables it)
	Targets []model.Proj // projections that get an adapter
	Layers  []int        // decoder layers that get adapters; nil means all
	RSLoRA  bool         // scale alpha/sqrt(r) instead of alpha/r
	Seed    uint64       // seeds the initialisation of A
}

// DefaultConfig is the protocol's setting: rank 128, alpha 512, dropout 0, all seven
// projections of every layer.
func DefaultConfig() Config {
	return Config{Rank: 128, Alpha: 512, Targets: AllProjections()}
}

// AllProjections lists q, k, v, o, gate, up and down.
func AllProjections() []model.Proj {
	out := make([]model.Proj, 0, model.NumProj)
	for p := model.Proj(0); p < model.NumProj; p++ {
		out = append(out, p)
	}
	return out
}

// Scale is the factor applied to the adapter's output.
func (c Config) Scale() float64 {
	if c.RSLoRA {
		return c.Alpha / math.Sqrt(float64(c.Rank))
	}
	return c.Alpha / float64(c.Rank)
}

// Validate checks the configuration against a model configuration.
func (c Config) Validate(mc *model.Config) error {
	if c.Rank <= 0 {
		return fmt.Errorf("lora: rank %d, want > 0", c.Rank)
	}
	if c.Alpha <= 0 || math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0) {
		return fmt.Errorf("lora: alpha %v, want > 0", c.Alpha)
	}
	if c.Dropout < 0 || c.Dropout >= 1 || math.IsNaN(c.Dropout) {
		return fmt.Errorf("lora: dropout %v, want in [0, 1)", c.Dropout)
	}
	if len(c.Targets) == 0 {
		return fmt.Errorf("lora: no target projections")
	}
	for _, p := range c.Targets {
		if p >= model.NumProj {
			return fmt.Errorf("lora: unknown target projection %v", p)
		}
	}
	for _, l := range c.Layers {
		if l < 0 || l >= mc.NumLayers {
			return fmt.Errorf("lora: layer %d outside the model's %d layers", l, mc.NumLayers)
		}
	}
	return nil
}

// Pair is the adapter of one projection: A [Rank, In] and B [Out, Rank], row-major float32.
type Pair struct {
	In, Out, Rank int
	A, B          []float32
}

// Adapter is a set of Pairs over a model. It implements model.Adapter. Concurrent forward
// passes may share it; changing its matrices while a forward pass runs is a data race.
type Adapter struct {
	Config Config
	// BaseModel is written to adapter_config.json as base_model_name_or_path.
	BaseModel string

	pairs  [][model.NumProj]*Pair // [layer][proj], nil where no adapter
	scale  float32
	merged bool
}

// New creates an adapter for m initialised as PEFT does: A from kaiming-uniform with
// a = sqrt(5), i.e. uniform in ±1/sqrt(in), drawn from cfg.Seed; B zero, so the adapted model
// starts equal to the base.
func New(m *model.Model, cfg Config) (*Adapter, error) {
	a, err := newEmpty(&m.Config, cfg)
	if err != nil {
		return nil, err
	}
	a.BaseModel = m.Dir
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6c6f7261))
	a.Each(func(_ int, _ model.Proj, p *Pair) {
		bound := 1 / math.Sqrt(float64(p.In))
		for i := range p.A {
			p.A[i] = float32((2*rng.Float64() - 1) * bound)
		}
	})
	return a, nil
}

// newEmpty allocates zeroed pairs for every targeted projection.
func newEmpty(mc *model.Config, cfg Config) (*Adapter, error) {
	if err := cfg.Validate(mc); err != nil {
		return nil, err
	}
	a := &Adapter{Config: cfg, pairs: make([][model.NumProj]*Pair, mc.NumLayers), scale: float32(cfg.Scale())}
	for l := range a.pairs {
		if cfg.Layers != nil && !slices.Contains(cfg.Layers, l) {
			continue
		}
		for _, p := range cfg.Targets {
			s := mc.ProjShape(p)
			out, in := s[0], s[1]
			a.pairs[l][p] = &Pair{In: in, Out: out, Rank: cfg.Rank,
				A: make([]float32, cfg.Rank*in), B: make([]float32, out*cfg.Rank)}
		}
	}
	return a, nil
}

// Pair returns the adapter of projection p in layer l, or nil.
func (a *Adapter) Pair(l int, p model.Proj) *Pair {
	if l < 0 || l >= len(a.pairs) || p >= model.NumProj {
		return nil
	}
	return a.pairs[l][p]
}

// Each calls fn for every pair, by layer then projection.
func (a *Adapter) Each(fn func(layer int, p model.Proj, pair *Pair)) {
	for l := range a.pairs {
		for p := model.Proj(0); p < model.NumProj; p++ {
			if pr := a.pairs[l][p]; pr != nil {
				fn(l, p, pr)
			}
		}
	}
}

// NumParams is the number of trainable values.
func (a *Adapter) NumParams() int {
	n := 0
	a.Each(func(_ int, _ model.Proj, p *Pair) { n += len(p.A) + len(p.B) })
	return n
}

// Merged reports whether the adapter is merged into the base weights.
func (a *Adapter) Merged() bool { return a.merged }

// AddDelta adds scale · (x Aᵀ) Bᵀ to y. It does nothing for projections without an adapter
// and while the adapter is merged (the base weights already carry it). The [m, rank]
// intermediate x Aᵀ lives in pooled scratch: in steady state AddDelta does not allocate, and
// concurrent calls each use their own.
func (a *Adapter) AddDelta(layer int, p model.Proj, y, x []float32, m int) {
	pr := a.Pair(layer, p)
	if pr == nil || a.merged || m == 0 {
		return
	}
	buf := scratch.Get().(*[]float32)
	if cap(*buf) < m*pr.Rank {
		*buf = make([]float32, m*pr.Rank)
	}
	t := (*buf)[:m*pr.Rank]
	kern.Gemm(false, true, m, pr.Rank, pr.In, 1, x, pr.In, pr.A, pr.In, 0, t, pr.Rank)
	kern.Gemm(false, true, m, pr.Out, pr.Rank, a.scale, t, pr.Rank, pr.B, pr.Rank, 1, y, pr.Out)
	scratch.Put(buf)
}

// LowRank returns the matrices and scale of projection p of layer (model.LowRankAdapter), so
// that the forward pass computes x Aᵀ in one product with the frozen weight; ok is false for
// projections without an adapter and while the adapter is merged.
func (a *Adapter) LowRank(layer int, p model.Proj) (am, bm []float32, rank int, scale float32, ok bool) {
	pr := a.Pair(layer, p)
	if pr == nil || a.merged {
		return nil, nil, 0, 0, false
	}
	return pr.A, pr.B, pr.Rank, a.scale, true
}

// scratch holds the [m, rank] intermediates of AddDelta.
var scratch = sync.Pool{New: func() any { return new([]float32) }}

// Merge adds scale · B A to the base weights of m, so that m alone computes the adapted
// model; AddDelta then does nothing. Weights stored in bfloat16 or float16 are rounded back
// to their precision, as PEFT's merge does.
func (a *Adapter) Merge(m *model.Model) error { return a.merge(m, 1) }

// Unmerge subtracts what Merge added, restoring the base weights (up to float rounding).
func (a *Adapter) Unmerge(m *model.Model) error { return a.merge(m, -1) }

func (a *Adapter) merge(m *model.Model, sign float32) error {
	if (sign > 0) == a.merged {
		if a.merged {
			return fmt.Errorf("lora: adapter is already merged")
		}
		return fmt.Errorf("lora: adapter is not merged")
	}
	if len(m.Layers) != len(a.pairs) {
		return fmt.Errorf("lora: adapter has %d layers, model %d", len(a.pairs), len(m.Layers))
	}
	var err error
	a.Each(func(l int, p model.Proj, pr *Pair) {
		w := m.Layers[l].Proj[p]
		if err != nil {
			return
		}
		if w.Rows != pr.Out || w.Cols != pr.In {
			err = fmt.Errorf("lora: layer %d %s: weight is [%d,%d], adapter [%d,%d]", l, p, w.Rows, w.Cols, pr.Out, pr.In)
			return
		}
		delta := make([]float32, pr.Out*pr.In)
		kern.Gemm(false, false, pr.Out, pr.In, pr.Rank, sign*a.scale, pr.B, pr.Rank, pr.A, pr.In, 0, delta, pr.In)
		w.AddInPlace(delta)
	})
	if err != nil {
		return err
	}
	a.merged = sign > 0
	return nil
}
