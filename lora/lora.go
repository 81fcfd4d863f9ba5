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

// Adapter is a set of Pairs over a model. It implements model.Adapter, model.LowRankAdapter and
// model.AdapterChecker (a forward pass refuses an adapter made for a model of another shape).
// Concurrent forward passes may share it; changing its matrices while a forward pass runs is a
// data race. A nil *Adapter is no adapter: it adds nothing, and a model run with it computes
// the base model.
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
	if m == nil {
		return nil, fmt.Errorf("lora: new: nil model")
	}
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
	if a == nil || l < 0 || l >= len(a.pairs) || p >= model.NumProj {
		return nil
	}
	return a.pairs[l][p]
}

// Each calls fn for every pair, by layer then projection.
func (a *Adapter) Each(fn func(layer int, p model.Proj, pair *Pair)) {
	if a == nil {
		return
	}
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
func (a *Adapter) Merged() bool { return a != nil && a.merged }

// CheckModel reports whether a was made for a model of shape c: as many decoder layers, and
// every pair of its projection's shape (A [Rank, In], B [Out, Rank] with In and Out those of the
// weight). It implements model.AdapterChecker: Forward calls it before every pass. A nil
// adapter fits every model.
func (a *Adapter) CheckModel(c *model.Config) error {
	if a == nil {
		return nil
	}
	if len(a.pairs) != c.NumLayers {
		return fmt.Errorf("lora: adapter has %d layers, the model %d", len(a.pairs), c.NumLayers)
	}
	for l := range a.pairs {
		for p, pr := range a.pairs[l] {
			if pr == nil {
				continue
			}
			s := c.ProjShape(model.Proj(p))
			switch {
			case pr.Out != s[0] || pr.In != s[1]:
				return fmt.Errorf("lora: layer %d %s: the adapter is for a weight of shape [%d,%d], the model's has shape [%d,%d]",
					l, model.Proj(p), pr.Out, pr.In, s[0], s[1])
			case pr.Rank <= 0 || int64(len(pr.A)) != int64(pr.Rank)*int64(pr.In) || int64(len(pr.B)) != int64(pr.Out)*int64(pr.Rank):
				return fmt.Errorf("lora: layer %d %s: rank %d with %d values in A and %d in B, want A [%d,%d] and B [%d,%d]",
					l, model.Proj(p), pr.Rank, len(pr.A), len(pr.B), pr.Rank, pr.In, pr.Out, pr.Rank)
			}
		}
	}
	return nil
}

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
// model; AddDelta and LowRank then do nothing. Weights stored in bfloat16 or float16 are
// rounded back to their precision, as PEFT's merge does.
//
// Merge changes m for every user of it, so it runs as m.Exclusive: it waits for the forward
// passes in flight on m (Forward, Generate, a scorer's batch) to end and holds new ones back
// until it is done. Each pass sees either the base model or the adapted one, never a mix; but
// passes that continue a Cache filled before the merge, or a scorer's later batches, see the
// other model than the earlier ones: merge before scoring, not during. Package train reads the
// weights without passes: do not merge while it trains. The adapter's merged state is read by
// passes that apply it, so it must not be in use with another model during the merge. An
// adapter that does not fit m (see CheckModel) and a closed model (model.ErrClosed) are errors
// that leave m unchanged.
func (a *Adapter) Merge(m *model.Model) error { return a.merge(m, 1) }

// Unmerge subtracts what Merge added, restoring the base weights (up to float rounding). It
// runs as m.Exclusive, as Merge does.
func (a *Adapter) Unmerge(m *model.Model) error { return a.merge(m, -1) }

func (a *Adapter) merge(m *model.Model, sign float32) error {
	if a == nil || m == nil {
		return fmt.Errorf("lora: merge: nil adapter or model")
	}
	if err := a.CheckModel(&m.Config); err != nil {
		return err
	}
	return m.Exclusive(func() error {
		if (sign > 0) == a.merged {
			if a.merged {
				return fmt.Errorf("lora: adapter is already merged")
			}
			return fmt.Errorf("lora: adapter is not merged")
		}
		// The weights' shapes are checked before any is changed: a failed merge changes nothing.
		var err error
		a.Each(func(l int, p model.Proj, pr *Pair) {
			if w := m.Layers[l].Proj[p]; err == nil && (w.Rows != pr.Out || w.Cols != pr.In) {
				err = fmt.Errorf("lora: layer %d %s: weight is [%d,%d], adapter [%d,%d]", l, p, w.Rows, w.Cols, pr.Out, pr.In)
			}
		})
		if err != nil {
			return err
		}
		a.Each(func(l int, p model.Proj, pr *Pair) {
			delta := make([]float32, pr.Out*pr.In)
			kern.Threads(m.Threads()).Gemm(false, false, pr.Out, pr.In, pr.Rank, sign*a.scale, pr.B, pr.Rank, pr.A, pr.In, 0, delta, pr.In)
			m.Layers[l].Proj[p].AddInPlace(delta)
		})
		a.merged = sign > 0
		return nil
	})
}
