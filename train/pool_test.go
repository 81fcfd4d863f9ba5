package train

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

func TestPoolRecyclesAfterLastReader(t *testing.T) {
	p := newPool()
	p.begin()
	a := p.mat(2, 3, 2) // read by two ops
	ra := p.byHead[a]
	require.True(t, ra.b.live)
	p.consumed(a)
	require.True(t, ra.b.live, "one reader left")
	p.consumed(a)
	require.False(t, ra.b.live, "recycled after its last reader")

	b := p.mat(3, 2, 1) // same length, other shape: the same buffer, its own header
	rb := p.byHead[b]
	require.Same(t, ra.b, rb.b)
	require.Equal(t, []int{3, 2}, []int(b.Shape()))
	d, r, c := p.data(b)
	require.Equal(t, 6, len(d))
	require.Equal(t, [2]int{3, 2}, [2]int{r, c})

	s := p.scratch(6) // a fresh buffer: b's is live
	require.NotSame(t, rb.b, s)
	p.releaseAll()
	require.False(t, rb.b.live)
	require.False(t, s.live)
	require.Equal(t, int64(0), p.liveBytes)
	require.Equal(t, int64(2*6*4), p.idleBytes(), "the run needed two buffers of 6 at once: both kept")

	// A second run of the same shapes allocates nothing.
	p.begin()
	n := len(p.all)
	x := p.mat(2, 3, 1)
	y := p.scratch(6)
	require.Equal(t, n, len(p.all))
	p.consumed(x)
	p.put(y)
	p.releaseAll()
}

func TestPoolTrimsIdleBuffersOfOtherShapes(t *testing.T) {
	p := newPool()
	p.begin()
	for range 4 {
		p.scratch(1000) // a large shape, four buffers at once
	}
	p.releaseAll()
	require.Equal(t, int64(4*1000*4), p.idleBytes())
	p.begin()
	p.scratch(100) // a small shape: its working set is 400 bytes
	p.releaseAll()
	// kept: the small buffer, plus at most half its bytes of others (none of 4000 fit)
	require.Equal(t, int64(100*4), p.idleBytes())
	require.Len(t, p.all, 1)
}

func TestPoolIgnoresRegisteredInputs(t *testing.T) {
	p := newPool()
	in := newMat(2, 2)
	p.register(in)
	p.consumed(in, in)
	d, r, c := p.data(in)
	require.Len(t, d, 4)
	require.Equal(t, [2]int{2, 2}, [2]int{r, c})
	p.releaseAll()
	require.Empty(t, p.all)
	p.unregister(in)
	require.Empty(t, p.byHead)
}

// A step of a batch shape seen before takes every buffer from the pool: what it allocates
// is gorgonia's per-instruction bookkeeping only, a small fraction of the first step's.
func TestSteadyStateStepAllocatesLittle(t *testing.T) {
	m := stories(t)
	a := smallAdapter(t, m, 0.1) // with dropout: its masks are pooled too
	e, err := NewEngine(m, a, 1)
	require.NoError(t, err)
	const B, T = 3, 24
	batch, labels := labelledBatch(B, T, 2, randomTokens(rand.New(rand.NewPCG(4, 4)), 3, 403), sameToken)
	step := func() uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := e.Accumulate(context.Background(), batch, labels, 1)
		require.NoError(t, err)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	first := step()
	step()
	steady := step()
	t.Logf("first step allocated %d KiB, a later one %d KiB; %v", first>>10, steady>>10, e.pool)
	require.Less(t, steady, first/4)
	require.Zero(t, e.pool.liveBytes, "every buffer is back in the pool after the step")
	// the activations: nothing the step needs is allocated again
	n := len(e.pool.all)
	step()
	require.Equal(t, n, len(e.pool.all))
}

func TestPoolStealsOnlyFromTheLastReader(t *testing.T) {
	p := newPool()
	p.begin()
	a := p.mat(2, 2, 2)
	_, ok := p.steal(a, 1)
	require.False(t, ok, "another op still reads it")
	p.consumed(a)
	got, ok := p.steal(a, 3)
	require.True(t, ok)
	require.Same(t, a, got)
	require.Equal(t, 3, p.byHead[a].b.uses, "now read by the thief's readers")
	in := newMat(2, 2)
	p.register(in)
	_, ok = p.steal(in, 1)
	require.False(t, ok, "graph inputs are never taken")
}

// The graph builds only the gradients that lead to the adapter's matrices (no layer-0 input
// gradient, none for an unadapted projection's input): an adapter on q and v of one layer
// gets the gradients the same matrices get inside an adapter on every projection of every
// layer whose other pairs are zero (B = 0: no effect on the loss).
func TestPartialAdapterGradientsMatchFull(t *testing.T) {
	m := stories(t)
	cfg := lora.DefaultConfig()
	cfg.Rank, cfg.Alpha, cfg.Seed = 4, 8, 3
	full, err := lora.New(m, cfg)
	require.NoError(t, err)
	cfg.Targets, cfg.Layers = []model.Proj{model.ProjQ, model.ProjV}, []int{1}
	part, err := lora.New(m, cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 5))
	nudgeB(part, rng, 0.05)
	part.Each(func(l int, p model.Proj, pr *lora.Pair) {
		fp := full.Pair(l, p)
		copy(fp.A, pr.A)
		copy(fp.B, pr.B)
	})
	batch, labels := labelledBatch(2, 9, 3, randomTokens(rng, 3, 403), sameToken)
	grads := func(a *lora.Adapter) *Engine {
		e, err := NewEngine(m, a, 1)
		require.NoError(t, err)
		_, _, err = e.Accumulate(context.Background(), batch, labels, 1)
		require.NoError(t, err)
		return e
	}
	ep, ef := grads(part), grads(full)
	part.Each(func(l int, p model.Proj, _ *lora.Pair) {
		pa, pb := ep.Grad(l, p)
		fa, fb := ef.Grad(l, p)
		require.Less(t, relErr(pa, fa), 1e-6, "layer %d %v: dA", l, p)
		require.Less(t, relErr(pb, fb), 1e-6, "layer %d %v: dB", l, p)
		require.NotZero(t, relErr(pa, make([]float32, len(pa))))
	})
}
