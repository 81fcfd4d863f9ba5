package kern

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAdamW10M times the single-tensor Step on 10M parameters.
func BenchmarkAdamW10M(b *testing.B) {
	n := 10_000_000
	p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range g {
		g[i] = float32(i%7) * 1e-3
	}
	o := AdamW{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o.Step(p, g, m, v, i+1)
	}
	adamwMetrics(b, n, 28)
}

// qwenLoRA returns the LoRA tensors (rank 128 on all seven projections) of the
// first layers of Qwen3-0.6B: 2.75M parameters a layer in 14 tensors.
func qwenLoRA(layers int) []AdamWTensor {
	const r, h, q, kv, ff = 128, 1024, 2048, 1024, 3072
	in := []int{h, h, h, q, h, h, ff}     // q, k, v, o, gate, up, down
	out := []int{q, kv, kv, h, ff, ff, h} // their outputs
	rng := rand.New(rand.NewPCG(1, 1))
	var ts []AdamWTensor
	for range layers {
		for j := range in {
			for _, n := range []int{r * in[j], out[j] * r} {
				t := AdamWTensor{P: make([]float32, n), G: make([]float32, n), M: make([]float32, n), V: make([]float32, n)}
				for i := range n {
					t.P[i] = float32(rng.NormFloat64() * 0.02)
					t.G[i] = float32(rng.NormFloat64() * 1e-3)
				}
				ts = append(ts, t)
			}
		}
	}
	return ts
}

// adamwMetrics reports elements/s and GB/s of a pass moving bytes per element.
func adamwMetrics(b *testing.B, n, bytes int) {
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(n)*float64(b.N)/s/1e6, "Melem/s")
	b.ReportMetric(float64(n)*float64(b.N)*float64(bytes)/s/1e9, "GB/s")
}

// BenchmarkAdamWQwen times the optimizer step of the LoRA tensors of 4 Qwen3-0.6B layers
// (11M parameters, 392 tensors for the whole model): the former per-tensor Step; the former
// trainer sequence (sequential norm pass, per-tensor steps, ZeroGrad: 36 bytes an element);
// and the fused multi-tensor pass of each kernel (with the gradient norm, 28 bytes an
// element: read p, g, m, v, write p, m, v; +zero also clears the gradients, 32 bytes; clip
// is the read-only norm pass then the update with the clip coefficient, 32 bytes).
//
//	go test ./internal/kern -run '^$' -bench AdamW -benchtime 5x
func BenchmarkAdamWQwen(b *testing.B) {
	ts := qwenLoRA(4)
	n := 0
	for _, t := range ts {
		n += len(t.P)
	}
	o := AdamW{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	b.Run("per-tensor", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, t := range ts {
				stepPerTensor(o, t.P, t.G, t.M, t.V, i+1)
			}
		}
		adamwMetrics(b, n, 28)
	})
	b.Run("former-trainer", func(b *testing.B) { // sequential norm, per-tensor steps, ZeroGrad
		for i := 0; i < b.N; i++ {
			for _, t := range ts {
				sumSq64(t.G)
			}
			for _, t := range ts {
				stepPerTensor(o, t.P, t.G, t.M, t.V, i+1)
			}
			for _, t := range ts {
				clear(t.G)
			}
		}
		adamwMetrics(b, n, 36)
	})
	for _, k := range adamwKernels {
		for _, c := range []struct {
			name  string
			pass  AdamWPass
			bytes int
			clip  bool
		}{{"fused", AdamWPass{}, 28, false}, {"fused+zero", AdamWPass{ZeroGrad: true}, 32, false}, {"clip", AdamWPass{GradScale: 0.5}, 32, true}} {
			b.Run(fmt.Sprintf("%s/%s", c.name, k.name), func(b *testing.B) {
				withKernel(k, func() {
					grads := make([][]float32, len(ts))
					for i, t := range ts {
						grads[i] = t.G
					}
					for i := 0; i < b.N; i++ {
						if c.clip {
							SumSquares(grads)
						}
						o.StepTensors(ts, i+1, c.pass)
					}
				})
				adamwMetrics(b, n, c.bytes)
			})
		}
	}
}
