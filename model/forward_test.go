package model

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// forwardCase is one forward pass of TestForwardPooledWorkspaces: a batch and its options.
type forwardCase struct {
	name   string
	rows   [][]int
	sel    func(b Batch) []int // Options.Rows; nil function: every position
	hidden bool
	ad     Adapter
	cached bool // run the first token of every row, then the rest over a Cache
}

func (fc forwardCase) run(ctx context.Context, m *Model) ([]float32, [][]float32, error) {
	b, err := NewBatch(fc.rows, 0)
	if err != nil {
		return nil, nil, err
	}
	var sel []int
	if fc.sel != nil {
		sel = fc.sel(b)
	}
	if !fc.cached {
		out, err := m.Forward(ctx, b, Options{Rows: sel, Hidden: fc.hidden, Adapter: fc.ad})
		if err != nil {
			return nil, nil, err
		}
		return out.Logits, out.Hidden, nil
	}
	var c Cache
	first := make([][]int, len(fc.rows))
	rest := make([][]int, len(fc.rows))
	for i, r := range fc.rows {
		first[i], rest[i] = r[:1], r[1:]
	}
	fb, err := NewBatch(first, 0)
	if err != nil {
		return nil, nil, err
	}
	if _, err := m.Forward(ctx, fb, Options{Rows: []int{}, Adapter: fc.ad, Cache: &c}); err != nil {
		return nil, nil, err
	}
	rb, err := NewBatch(rest, 0)
	if err != nil {
		return nil, nil, err
	}
	rb.Pos = nil // the cache continues each row's positions
	out, err := m.Forward(ctx, rb, Options{Rows: rb.Last(), Adapter: fc.ad, Cache: &c})
	if err != nil {
		return nil, nil, err
	}
	return out.Logits, nil, nil
}

// TestForwardPooledWorkspaces runs passes of different shapes and options one after the
// other, then all at once from several goroutines: the pooled scratch of one pass (sized for
// another batch, holding another pass's values) must not change any number, and concurrent
// passes must not share it.
func TestForwardPooledWorkspaces(t *testing.T) {
	m := loadModel(t, filepath.Join("..", "testdata", "qwen3-tiny", "model"))
	v := m.Config.VocabSize
	last := func(b Batch) []int { return b.Last() }
	cases := []forwardCase{
		{name: "big batch, every position", rows: randRows(1, v, 17, 30, 9, 30)},
		{name: "last rows", rows: randRows(2, v, 5, 12, 3), sel: last},
		{name: "last rows, adapter", rows: randRows(3, v, 7, 7), sel: last, ad: shiftAdapter{}},
		{name: "some rows, repeated", rows: randRows(4, v, 11, 6), sel: func(Batch) []int { return []int{3, 3, 0, 21, 12} }},
		{name: "no rows", rows: randRows(5, v, 4, 8), sel: func(Batch) []int { return []int{} }},
		{name: "hidden states", rows: randRows(6, v, 10, 2), sel: last, hidden: true},
		{name: "cache", rows: randRows(7, v, 9, 14, 6), cached: true},
		{name: "cache, adapter", rows: randRows(8, v, 13, 5), cached: true, ad: shiftAdapter{}},
		{name: "one token", rows: randRows(9, v, 1), sel: last},
	}
	ctx := context.Background()
	type result struct {
		logits []float32
		hidden [][]float32
	}
	want := make([]result, len(cases))
	for i, fc := range cases {
		lg, hs, err := fc.run(ctx, m)
		require.NoError(t, err, fc.name)
		want[i] = result{lg, hs}
	}
	// The selected rows are the rows of the full pass.
	full, _, err := cases[3].run(ctx, m)
	require.NoError(t, err)
	allCase := cases[3]
	allCase.sel = nil
	all, _, err := allCase.run(ctx, m)
	require.NoError(t, err)
	for i, r := range []int{3, 3, 0, 21, 12} {
		require.InDeltaSlice(t, all[r*v:(r+1)*v], full[i*v:(i+1)*v], 1e-5, "selected row %d", r)
	}
	require.Empty(t, want[4].logits)
	// A prefix run with no logit rows (whose last layer stops after its keys and values), then
	// continued over the cache: the last rows of the plain pass.
	for _, i := range []int{6, 7} {
		plain := cases[i]
		plain.cached, plain.sel = false, last
		lg, _, err := plain.run(ctx, m)
		require.NoError(t, err)
		requireRowsClose(t, lg, want[i].logits, "%s against a pass without cache", cases[i].name)
	}

	const repeats = 3
	var wg sync.WaitGroup
	errs := make(chan error, len(cases)*repeats)
	for rep := 0; rep < repeats; rep++ {
		for i, fc := range cases {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lg, hs, err := fc.run(ctx, m)
				if err != nil {
					errs <- err
					return
				}
				if d := maxAbsDiff(lg, want[i].logits, nil); len(lg) != len(want[i].logits) || d > 1e-6 {
					errs <- fmt.Errorf("%s: logits differ by %g", fc.name, d)
				}
				for l := range want[i].hidden {
					if d := maxAbsDiff(hs[l], want[i].hidden[l], nil); d > 1e-6 {
						errs <- fmt.Errorf("%s: hidden state %d differs by %g", fc.name, l, d)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestForwardAllocatesOnlyItsOutput checks that, once the pools are warm, a scoring pass (with
// an adapter, with and without a cache) allocates about the size of its logits and no
// activations.
func TestForwardAllocatesOnlyItsOutput(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops sync.Pool items: allocation counts are not the steady state's")
	}
	m := loadModel(t, filepath.Join("..", "testdata", "qwen3-tiny", "model"))
	v := m.Config.VocabSize
	b, err := NewBatch(randRows(3, v, 24, 32, 32, 20), 0)
	require.NoError(t, err)
	rows := b.Last()
	ctx := context.Background()
	logitBytes := uint64(len(rows) * v * 4)
	// Activations of one layer of this batch (the workspace): a pass that allocated them
	// would exceed the bound below several times over. (The portable build's GEMM, gonum's,
	// allocates a little of its own.)
	c := &m.Config
	perToken := 2*c.HiddenSize + 2*c.NumHeads*c.HeadDim + 2*c.NumKVHeads*c.HeadDim + 2*c.IntermediateSize
	actBytes := uint64(b.B * b.T * perToken * 4)
	for _, tc := range []struct {
		name string
		pass func() error
	}{
		{"plain", func() error { _, err := m.Forward(ctx, b, Options{Rows: rows}); return err }},
		{"adapter", func() error {
			_, err := m.Forward(ctx, b, Options{Rows: rows, Adapter: shiftAdapter{}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const passes = 10
			best := ^uint64(0)
			for try := 0; try < 3; try++ {
				require.NoError(t, tc.pass()) // warm the pools
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for range passes {
					require.NoError(t, tc.pass())
				}
				runtime.ReadMemStats(&after)
				best = min(best, (after.TotalAlloc-before.TotalAlloc)/passes)
			}
			t.Logf("%d bytes per pass (logits %d, activations %d)", best, logitBytes, actBytes)
			require.Less(t, best, logitBytes+actBytes/4)
		})
	}
}
