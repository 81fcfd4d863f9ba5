package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// GenerateOptions control Generate.
type GenerateOptions struct {
	// Temperature 0 (the default) is greedy decoding; above 0 samples from softmax(logits/T).
	Temperature float64
	// Seed seeds the sampler (ignored when greedy).
	Seed uint64
	// StopAtEOS ends generation at one of the config's eos ids (which is then included).
	StopAtEOS bool
	// Adapter is passed to every forward pass.
	Adapter Adapter
	// Threads caps the goroutines of every step (0: the model's cap, see Model.SetThreads).
	Threads int
}

// Generate extends prompt by up to n tokens and returns prompt and continuation together. It
// runs the prompt once, then one token per step over a key/value cache (see Cache). The whole
// generation is one pass (see Model): Close and Exclusive changes wait for it to end.
func (m *Model) Generate(ctx context.Context, prompt []int, n int, opt GenerateOptions) ([]int, error) {
	if err := m.enter("generate"); err != nil {
		return nil, err
	}
	defer m.leave()
	if len(prompt) == 0 {
		return nil, fmt.Errorf("model: generate: empty prompt")
	}
	if opt.Temperature < 0 || math.IsNaN(opt.Temperature) {
		return nil, fmt.Errorf("model: generate: temperature %v, want >= 0", opt.Temperature)
	}
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))
	ids := slices.Clone(prompt)
	var cache Cache
	cache.Reserve(min(max(n, 0), 1024)) // beyond that the cache grows by doubling
	b, err := NewBatch([][]int{ids}, 0)
	if err != nil {
		return nil, err
	}
	rows := b.Last()
	tok := make([]int32, 1)
	var w []float64 // the sampler's weights, reused across steps
	for step := 0; step < n; step++ {
		if step > 0 {
			tok[0] = int32(ids[len(ids)-1])
			b = Batch{B: 1, T: 1, IDs: tok}
			rows[0] = 0
		}
		out, err := m.pass(ctx, b, Options{Rows: rows, Adapter: opt.Adapter, Cache: &cache, Threads: opt.Threads})
		if err != nil {
			return nil, err
		}
		var next int
		next, w = SampleToken(out.Row(0), opt.Temperature, rng, w)
		ids = append(ids, next)
		if opt.StopAtEOS && slices.Contains(m.Config.EOSTokenIDs, next) {
			break
		}
	}
	return ids, nil
}

// SampleToken chooses the next token from a row of logits: the argmax (first on ties) when
// temperature is 0, else a draw from softmax(logits/temperature) with rng. w is scratch for the
// sampling weights (grown as needed and returned, for the next call).
func SampleToken(logits []float32, temperature float64, rng *rand.Rand, w []float64) (int, []float64) {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	if temperature == 0 {
		return best, w
	}
	mx := float64(logits[best])
	if cap(w) < len(logits) {
		w = make([]float64, len(logits))
	}
	w = w[:len(logits)]
	var sum float64
	for i, v := range logits {
		w[i] = math.Exp((float64(v) - mx) / temperature)
		sum += w[i]
	}
	r := rng.Float64() * sum
	for i, v := range w {
		r -= v
		if r <= 0 {
			return i, w
		}
	}
	return best, w
}
