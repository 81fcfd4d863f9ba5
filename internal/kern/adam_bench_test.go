package kern

import "testing"

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
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
}
