package train

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/prefix"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// sharedBatches are batches of examples built from random tokens: prefixes of several lengths
// shared by groups of rows, rows sharing nothing, and a batch with no common prefix at all.
func sharedBatches(vocab int, rng *rand.Rand) map[string][]Example {
	toks := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = rng.IntN(vocab)
		}
		return out
	}
	ex := func(shared []int, own, answer int) Example {
		return Example{Prompt: slices.Concat(shared, toks(own)), Answer: toks(answer)}
	}
	p30, p45, p21 := toks(30), toks(45), toks(21)
	p45b := slices.Concat(p45[:37], toks(8)) // shares 37 tokens with p45
	return map[string][]Example{
		"one prefix, padded rows": {ex(p30, 3, 1), ex(p30, 9, 1), ex(p30, 1, 2), ex(p30, 6, 1), ex(p30, 4, 3)},
		"prefixes of different lengths and a row alone": {ex(p45, 2, 1), ex(p21, 5, 1), ex(p45, 7, 2), ex(nil, 9, 1),
			ex(p21, 1, 1), ex(p45b, 3, 1), ex(p21, 8, 2), ex(p45, 1, 1)},
		"nested prefixes":  {ex(p45, 2, 1), ex(p45b, 2, 1), ex(p45, 3, 1), ex(p45b, 1, 2), ex(p45[:37], 6, 1)},
		"no shared prefix": {ex(nil, 20, 1), ex(nil, 31, 1), ex(nil, 12, 2)},
	}
}

// TestSharedPrefixMatchesFull checks that running shared prefixes once gives the loss and every
// LoRA gradient of the batch run in full (today's graph), on both tiny fixtures.
func TestSharedPrefixMatchesFull(t *testing.T) {
	eachFixture(t, func(t *testing.T, f *fixture) {
		rng := rand.New(rand.NewPCG(5, 6))
		nudgeB(f.a, rng, 0.05) // every dA counts
		batches := sharedBatches(f.m.Config.VocabSize, rng)
		for _, bn := range slices.Sorted(maps.Keys(batches)) {
			xs := batches[bn]
			t.Run(bn, func(t *testing.T) {
				rows, own := make([][]int, len(xs)), make([]int, len(xs))
				for i, x := range xs {
					rows[i], own[i] = slices.Concat(x.Prompt, x.Answer), len(x.Answer)+1
				}
				l := prefix.Plan(rows, own, shapeQuantum)
				require.Equal(t, bn != "no shared prefix", l.Shared(), "layout %+v", l)
				if bn == "prefixes of different lengths and a row alone" {
					require.GreaterOrEqual(t, len(l.Groups), 2, "layout %+v", l)
					require.Contains(t, l.Group, -1, "layout %+v", l)
				}
				ctx := context.Background()
				full, err := NewEngine(f.m, f.a, 1)
				require.NoError(t, err)
				shared, err := NewEngine(f.m, f.a, 1)
				require.NoError(t, err)
				for range 2 { // the second run reuses the compiled graphs and pooled buffers
					full.ZeroGrad()
					shared.ZeroGrad()
					s1, c1, err := full.AccumulateExamples(ctx, xs, 0, 0.25, false)
					require.NoError(t, err)
					s2, c2, err := shared.AccumulateExamples(ctx, xs, 0, 0.25, true)
					require.NoError(t, err)
					require.Equal(t, c1, c2)
					require.InEpsilon(t, s1, s2, 1e-5, "loss sum")
					worst := 0.0
					f.a.Each(func(l int, p model.Proj, _ *lora.Pair) {
						a1, b1 := full.Grad(l, p)
						a2, b2 := shared.Grad(l, p)
						for _, e := range []float64{relErr(a2, a1), relErr(b2, b1)} {
							require.Less(t, e, 1e-5, "layer %d %s", l, p)
							worst = max(worst, e)
						}
					})
					t.Logf("loss %.7f vs %.7f, worst gradient relative error %.2g (%d prefixes, P %d, S %d, %d of %d slots)",
						s2/float64(c2), s1/float64(c1), worst, len(l.Groups), l.P, l.S, l.Cost, l.Full)
				}
			})
		}
	})
}

// surveyLike makes examples in the survey's shape: a few task texts, statements under each,
// several templates per statement, a one-token answer.
func surveyLike(vocab int, seed uint64) []Example {
	rng := rand.New(rand.NewPCG(seed, 9))
	toks := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = 3 + rng.IntN(vocab-3)
		}
		return out
	}
	var xs []Example
	for range 2 {
		task := toks(20)
		for range 3 {
			st := toks(6 + rng.IntN(5))
			for range 3 {
				xs = append(xs, Example{Prompt: slices.Concat(task, st, toks(1+rng.IntN(3))), Answer: toks(1)})
			}
		}
	}
	return xs
}

func TestPlanSharedGroupsRowsAndCoversEachOnce(t *testing.T) {
	xs := surveyLike(500, 1)
	steps := planShared(xs, 4, 2, true, rand.New(rand.NewPCG(3, 4)))
	var seen []int
	shared := 0
	for _, st := range steps {
		for _, mb := range st {
			seen = append(seen, mb...)
			rows := make([][]int, len(mb))
			for i, x := range mb {
				rows[i] = xs[x].Prompt
			}
			if prefix.Shared(rows, 1) >= minSharedPrefix {
				shared++
			}
		}
	}
	slices.Sort(seen)
	require.Equal(t, len(xs), len(seen))
	for i, x := range seen {
		require.Equal(t, i, x)
	}
	require.GreaterOrEqual(t, shared, 3, "most micro-batches hold rows of one task: %v", steps)
	again := planShared(xs, 4, 2, true, rand.New(rand.NewPCG(3, 4)))
	require.Equal(t, steps, again)
}

// With prefix sharing, training 4 steps equals training 2, stopping, resuming and training 2
// more, bit for bit.
func TestResumeIsBitIdenticalWithSharing(t *testing.T) {
	m := stories(t)
	trainSet, valSet := surveyLike(m.Config.VocabSize, 2), surveyLike(m.Config.VocabSize, 3)[:6]
	cfg := func(dir string) Config {
		c := runConfig(dir)
		c.BatchSize, c.Accum = 5, 2
		require.True(t, c.PrefixSharing)
		return c
	}
	full := smallAdapter(t, m, 0)
	tr, err := New(m, full, trainSet, valSet, cfg(t.TempDir()))
	require.NoError(t, err)
	res, err := tr.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, 4, res.Steps)

	dir := t.TempDir()
	tr, err = New(m, smallAdapter(t, m, 0), trainSet, valSet, cfg(dir))
	require.NoError(t, err)
	cancelAfter(t, tr, 2)
	resumed := smallAdapter(t, m, 0)
	tr, err = Resume(m, resumed, trainSet, valSet, cfg(dir))
	require.NoError(t, err)
	res2, err := tr.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, res.LastLoss, res2.LastLoss)
	full.Each(func(l int, p model.Proj, pr *lora.Pair) {
		q := resumed.Pair(l, p)
		require.Equal(t, pr.A, q.A, "layer %d %s A", l, p)
		require.Equal(t, pr.B, q.B, "layer %d %s B", l, p)
	})
}
