package kern

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// stepPerTensor is the former AdamW.Step, kept verbatim as the reference of
// the fused kernels: torch's single-tensor update, one ParallelFor per tensor.
func stepPerTensor(o AdamW, p, g, m, v []float32, step int) {
	t := float64(step)
	decay := float32(1 - o.LR*o.WeightDecay)
	w1 := float32(1 - o.Beta1)
	b2 := float32(o.Beta2)
	w2 := float32(1 - o.Beta2)
	bc1 := 1 - math.Pow(o.Beta1, t)
	bc2 := 1 - math.Pow(o.Beta2, t)
	negStep := float32(-(o.LR / bc1))
	bc2sqrt := float32(math.Sqrt(bc2))
	eps := float32(o.Eps)
	wd := o.WeightDecay != 0
	ParallelFor(len(p), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			pi := p[i]
			if wd {
				pi = float32(pi * decay)
			}
			gi := g[i]
			var mi float32
			if w1 < 0.5 {
				mi = m[i] + float32(w1*float32(gi-m[i]))
			} else {
				mi = gi - float32(float32(gi-m[i])*float32(1-w1))
			}
			vi := float32(v[i]*b2) + float32(float32(w2*gi)*gi)
			denom := float32(float32(math.Sqrt(float64(vi)))/bc2sqrt) + eps
			pi += float32(float32(negStep*mi) / denom)
			p[i], m[i], v[i] = pi, mi, vi
		}
	})
}

// adamwState is a set of tensors with random values, gradients and moments (v >= 0).
func adamwState(rng *rand.Rand, lens []int) []AdamWTensor {
	ts := make([]AdamWTensor, len(lens))
	for i, n := range lens {
		t := AdamWTensor{P: make([]float32, n), G: make([]float32, n), M: make([]float32, n), V: make([]float32, n)}
		for j := range n {
			t.P[j] = float32(rng.NormFloat64() * 0.05)
			t.G[j] = float32(rng.NormFloat64() * math.Exp(rng.NormFloat64()*3) * 1e-3)
			t.M[j] = float32(rng.NormFloat64() * 1e-3)
			t.V[j] = float32(math.Abs(rng.NormFloat64()) * 1e-6)
		}
		if n > 3 {
			t.G[0], t.M[1], t.V[2] = 0, 0, 0
		}
		ts[i] = t
	}
	return ts
}

func cloneState(ts []AdamWTensor) []AdamWTensor {
	out := make([]AdamWTensor, len(ts))
	for i, t := range ts {
		out[i] = AdamWTensor{P: clone32(t.P), G: clone32(t.G), M: clone32(t.M), V: clone32(t.V)}
	}
	return out
}

func clone32(x []float32) []float32 { return append([]float32(nil), x...) }

// sameBits reports the first index where a and b differ bit for bit, or -1.
func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// sumSq64 is Σ x² in float64, sequentially.
func sumSq64(xs ...[]float32) float64 {
	var s float64
	for _, x := range xs {
		for _, v := range x {
			s += float64(v) * float64(v)
		}
	}
	return s
}

// withKernel runs fn with the chunk kernels of k in place.
func withKernel(k namedAdamW, fn func()) {
	a, s := adamwK, sumSqK
	adamwK, sumSqK = k.step, k.sumSq
	defer func() { adamwK, sumSqK = a, s }()
	fn()
}

// TestAdamWStepTensors checks the fused multi-tensor step of every kernel this CPU runs
// against the former per-tensor Step bit for bit, with gradient scaling (clipping) and
// zeroing, and its Σ g² against a float64 reference.
func TestAdamWStepTensors(t *testing.T) {
	lens := []int{1, 15, 17, 100, 4096, 3*adamwChunk + 5, 2 * adamwChunk, 77777}
	opts := []AdamW{
		{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01},
		{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		{LR: 0.1, Beta1: 0.3, Beta2: 0.5, Eps: 1e-6, WeightDecay: 0.1}, // lerp weight >= 0.5
	}
	for _, k := range adamwKernels {
		for oi, o := range opts {
			for _, pass := range []AdamWPass{{}, {ZeroGrad: true}, {GradScale: 0.37}, {GradScale: 1, ZeroGrad: true}} {
				name := fmt.Sprintf("%s/opt%d/scale%v/zero%v", k.name, oi, pass.GradScale, pass.ZeroGrad)
				t.Run(name, func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(oi), 7))
					got := adamwState(rng, lens)
					want := cloneState(got)
					for step := 1; step <= 3; step++ {
						if step > 1 {
							for i := range got { // fresh gradients
								for j := range got[i].G {
									g := float32(rng.NormFloat64() * 1e-3)
									got[i].G[j], want[i].G[j] = g, g
								}
							}
						}
						var grads [][]float32
						for _, w := range want {
							grads = append(grads, clone32(w.G))
						}
						ref := sumSq64(grads...)
						var s float64
						withKernel(k, func() { s = o.StepTensors(got, step, pass) })
						for i, w := range want {
							g := clone32(w.G)
							if pass.GradScale != 0 {
								for j := range g {
									g[j] *= pass.GradScale
								}
							}
							stepPerTensor(o, w.P, g, w.M, w.V, step)
							wantG := grads[i]
							if pass.ZeroGrad {
								wantG = make([]float32, len(wantG))
							}
							for _, c := range []struct {
								s    string
								a, b []float32
							}{{"p", got[i].P, w.P}, {"m", got[i].M, w.M}, {"v", got[i].V, w.V}, {"g", got[i].G, wantG}} {
								if j := sameBits(c.a, c.b); j >= 0 {
									t.Fatalf("step %d tensor %d (len %d) %s[%d] = %v, want %v", step, i, lens[i], c.s, j, c.a[j], c.b[j])
								}
							}
							copy(w.G, got[i].G)
						}
						if rel := math.Abs(s-ref) / ref; !(rel <= 1e-12) {
							t.Fatalf("step %d: Σg² = %v, float64 reference %v (rel %.3g)", step, s, ref, rel)
						}
					}
				})
			}
		}
	}
}

// TestSumSquares checks the parallel Σ x² of every kernel against a float64 reference.
func TestSumSquares(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, lens := range [][]int{nil, {0}, {1}, {31, 33}, {adamwChunk*5 + 3, 1000, 17}} {
		var xs [][]float32
		for _, n := range lens {
			x := make([]float32, n)
			for j := range x {
				x[j] = float32(rng.NormFloat64() * math.Exp(rng.NormFloat64()*4))
			}
			xs = append(xs, x)
		}
		ref := sumSq64(xs...)
		for _, k := range adamwKernels {
			var s float64
			withKernel(k, func() { s = SumSquares(xs) })
			if ref == 0 {
				if s != 0 {
					t.Fatalf("%s %v: %v, want 0", k.name, lens, s)
				}
				continue
			}
			if rel := math.Abs(s-ref) / ref; !(rel <= 1e-12) {
				t.Fatalf("%s %v: Σx² = %v, reference %v (rel %.3g)", k.name, lens, s, ref, rel)
			}
		}
	}
}

// TestStepTensorsDeterministic checks that the returned Σ g² does not depend on the
// number of workers.
func TestStepTensorsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ts := adamwState(rng, []int{7*adamwChunk + 11, 3 * adamwChunk})
	o := AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	a := o.StepTensors(cloneState(ts), 1, AdamWPass{})
	b := SumSquares([][]float32{ts[0].G, ts[1].G})
	prev := runtime.GOMAXPROCS(1)
	c := o.StepTensors(cloneState(ts), 1, AdamWPass{})
	d := SumSquares([][]float32{ts[0].G, ts[1].G})
	runtime.GOMAXPROCS(prev)
	if a != c || b != d {
		t.Fatalf("Σg² with 1 worker %v, %v; with %d: %v, %v", c, d, prev, a, b)
	}
}

func TestStepTensorsPanics(t *testing.T) {
	o := AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	for _, tc := range []struct {
		name string
		ts   []AdamWTensor
		step int
	}{
		{"step 0", []AdamWTensor{{P: make([]float32, 2), G: make([]float32, 2), M: make([]float32, 2), V: make([]float32, 2)}}, 0},
		{"short m", []AdamWTensor{{P: make([]float32, 2), G: make([]float32, 2), M: make([]float32, 1), V: make([]float32, 2)}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			o.StepTensors(tc.ts, tc.step, AdamWPass{})
		})
	}
}
