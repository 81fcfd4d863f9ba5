package kern

import (
	"fmt"
	"math"
	"sync"
)

// RopeScaling selects a rotary-frequency scaling as in a Hugging Face config's
// rope_scaling: Type "default" (or "") for none, or "llama3".
type RopeScaling struct {
	Type                          string
	Factor                        float64
	LowFreqFactor, HighFreqFactor float64
	OriginalMaxPositions          int
}

// Rope holds the inverse frequencies of rotate-half rotary embeddings (Hugging
// Face layout: element i is paired with i+HeadDim/2).
type Rope struct {
	HeadDim int
	InvFreq []float32 // HeadDim/2 values
}

// NewRope computes inv_freq[i] = 1/theta^(2i/D) in float32 as transformers
// does (`1.0 / (base ** (arange(0, D, 2).float() / D))`), then applies the
// optional scaling. s may be nil.
func NewRope(headDim int, theta float64, s *RopeScaling) (*Rope, error) {
	if headDim <= 0 || headDim%2 != 0 {
		return nil, fmt.Errorf("kern: rope: head_dim %d: want a positive even number", headDim)
	}
	if !(theta > 1) || math.IsInf(theta, 0) {
		return nil, fmt.Errorf("kern: rope: rope_theta %v: want a finite value > 1", theta)
	}
	half := headDim / 2
	inv := make([]float32, half)
	for i := range inv {
		e := float32(2*i) / float32(headDim)
		p := float32(math.Pow(theta, float64(e)))
		inv[i] = 1 / p
	}
	if s != nil {
		switch s.Type {
		case "", "default":
		case "llama3":
			if err := llama3Scale(inv, s); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("kern: rope: rope_scaling.rope_type %q: want \"default\" or \"llama3\"", s.Type)
		}
	}
	return &Rope{HeadDim: headDim, InvFreq: inv}, nil
}

// llama3Scale follows transformers' _compute_llama3_parameters in float32
// tensor arithmetic (python scalars are rounded to float32 where the tensor op
// uses them; `c / t` is torch's `t.reciprocal() * c`).
func llama3Scale(inv []float32, s *RopeScaling) error {
	if !(s.Factor > 0) || !(s.LowFreqFactor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) || s.OriginalMaxPositions <= 0 {
		return fmt.Errorf("kern: rope: llama3 scaling factor=%v low_freq_factor=%v high_freq_factor=%v original_max_position_embeddings=%d: want factor > 0, 0 < low < high, original > 0",
			s.Factor, s.LowFreqFactor, s.HighFreqFactor, s.OriginalMaxPositions)
	}
	old := float64(s.OriginalMaxPositions)
	lowWave := float32(old / s.LowFreqFactor) // python floats, compared against a float32 tensor
	highWave := float32(old / s.HighFreqFactor)
	factor := float32(s.Factor)
	low := float32(s.LowFreqFactor)
	span := float32(s.HighFreqFactor - s.LowFreqFactor)
	twoPi := float32(2 * math.Pi)
	oldF := float32(old)
	for i, f := range inv {
		wave := float32(float32(1/f) * twoPi)
		scaled := f
		if wave > lowWave {
			scaled = float32(f / factor)
		}
		if !(wave < highWave) && !(wave > lowWave) {
			smooth := float32(float32(float32(float32(1/wave)*oldF)-low) / span)
			a := float32(float32(float32(1-smooth)*scaled) / factor)
			b := float32(smooth * scaled)
			scaled = float32(a + b)
		}
		inv[i] = scaled
	}
	return nil
}

// Apply rotates x, laid out [tokens, heads, HeadDim], in place; positions[t]
// is token t's position. angle = float32(pos)*InvFreq[i] in float32;
// out[i] = x[i]*cos - x[i+D/2]*sin, out[i+D/2] = x[i+D/2]*cos + x[i]*sin.
func (th Threads) RopeApply(r *Rope, x []float32, positions []int32, heads int) {
	r.rotate(th, x, positions, heads, false)
}

// ApplyBackward maps a gradient through Apply (the inverse rotation), in place.
func (th Threads) RopeApplyBackward(r *Rope, dx []float32, positions []int32, heads int) {
	r.rotate(th, dx, positions, heads, true)
}

func (r *Rope) rotate(th Threads, x []float32, positions []int32, heads int, inverse bool) {
	D := r.HeadDim
	half := D / 2
	T := len(positions)
	if len(x) != T*heads*D || len(r.InvFreq) != half {
		panic(fmt.Sprintf("kern: rope: len(x)=%d, want tokens %d x heads %d x head_dim %d (inv_freq %d)", len(x), T, heads, D, len(r.InvFreq)))
	}
	th.ParallelFor(T, max(1, 4096/max(heads*D, 1)), func(lo, hi int) {
		buf := getF32(D)
		cs, sn := buf.s[:half], buf.s[half:D]
		for t := lo; t < hi; t++ {
			r.angles(cs, sn, positions[t])
			if inverse {
				for i := range sn {
					sn[i] = -sn[i]
				}
			}
			rotateRow(x[t*heads*D:(t+1)*heads*D], cs, sn, heads, D)
		}
		putF32(buf)
	})
}

// angles writes cos and sin of position pos's angles float32(pos)*InvFreq[i].
func (r *Rope) angles(cs, sn []float32, pos int32) {
	p := float32(pos)
	for i, f := range r.InvFreq {
		ang := float64(float32(p * f))
		cs[i] = float32(math.Cos(ang))
		sn[i] = float32(math.Sin(ang))
	}
}

// rotateRow rotates the heads of one token, row [heads, D], by the angles cs, sn.
func rotateRow(row, cs, sn []float32, heads, D int) {
	half := D / 2
	cs, sn = cs[:half], sn[:half]
	for h := 0; h < heads; h++ {
		v := row[h*D : (h+1)*D]
		a, b := v[:half], v[half:D]
		for i := range a {
			x1, x2 := a[i], b[i]
			// explicit conversions keep the products unfused, as torch computes them
			a[i] = float32(x1*cs[i]) - float32(x2*sn[i])
			b[i] = float32(x2*cs[i]) + float32(x1*sn[i])
		}
	}
}

// Angles fills cs and sn, each [len(positions), HeadDim/2], with the cosines and sines of
// every position's angles, so that the tensors of several Apply calls over the same positions
// (queries and keys, every layer) share one evaluation: see ApplyAngles. It does not allocate.
func (th Threads) RopeAngles(r *Rope, cs, sn []float32, positions []int32) {
	half := r.HeadDim / 2
	T := len(positions)
	if len(cs) != T*half || len(sn) != T*half || len(r.InvFreq) != half {
		panic(fmt.Sprintf("kern: rope angles: %d positions x %d: len(cos)=%d len(sin)=%d", T, half, len(cs), len(sn)))
	}
	j := ropePool.Get().(*ropeJob)
	*j = ropeJob{r: r, cs: cs, sn: sn, pos: positions}
	parallelRows(th.workers(), T, max(1, 256/max(half, 1)), j)
	*j = ropeJob{}
	ropePool.Put(j)
}

// ApplyAngles rotates x, laid out [tokens, heads, HeadDim], in place by the angles that Angles
// computed for the tokens' positions: the same numbers as Apply. It does not allocate.
func (th Threads) RopeApplyAngles(r *Rope, x, cs, sn []float32, heads int) {
	D := r.HeadDim
	half := D / 2
	T := len(cs) / max(half, 1)
	if len(x) != T*heads*D || len(cs) != T*half || len(sn) != T*half {
		panic(fmt.Sprintf("kern: rope: len(x)=%d len(cos)=%d len(sin)=%d, want tokens x heads %d x head_dim %d", len(x), len(cs), len(sn), heads, D))
	}
	j := ropePool.Get().(*ropeJob)
	*j = ropeJob{r: r, x: x, cs: cs, sn: sn, heads: heads}
	parallelRows(th.workers(), T, max(1, 4096/max(heads*D, 1)), j)
	*j = ropeJob{}
	ropePool.Put(j)
}

// ropeJob holds the arguments of Angles (pos set) or ApplyAngles (x set), pooled.
type ropeJob struct {
	r      *Rope
	x      []float32
	cs, sn []float32
	pos    []int32
	heads  int
}

var ropePool = sync.Pool{New: func() any { return new(ropeJob) }}

func (j *ropeJob) rows(lo, hi int) {
	D := j.r.HeadDim
	half := D / 2
	for t := lo; t < hi; t++ {
		cs, sn := j.cs[t*half:(t+1)*half], j.sn[t*half:(t+1)*half]
		if j.pos != nil {
			j.r.angles(cs, sn, j.pos[t])
		} else {
			rotateRow(j.x[t*j.heads*D:(t+1)*j.heads*D], cs, sn, j.heads, D)
		}
	}
}
