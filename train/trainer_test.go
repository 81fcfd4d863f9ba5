package train

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// Accumulating 4 micro-batches of 4 gives the gradient of one batch of 16: the loss is
// normalised by the answer tokens of the whole accumulated batch.
func TestAccumulationEqualsLargeBatch(t *testing.T) {
	m := stories(t)
	a := smallAdapter(t, m, 0)
	xs := synthetic(16, 1)
	total := float32(AnswerTokens(xs))

	e, err := NewEngine(m, a, 1)
	require.NoError(t, err)
	b, labels, err := Collate(xs, 0)
	require.NoError(t, err)
	sum16, n16, err := e.Accumulate(context.Background(), b, labels, 1/total)
	require.NoError(t, err)
	big := append([]float32(nil), allGrads(e)...)

	e.ZeroGrad()
	var sum float64
	n := 0
	for i := 0; i < 16; i += 4 {
		b, labels, err := Collate(xs[i:i+4], 0)
		require.NoError(t, err)
		s, c, err := e.Accumulate(context.Background(), b, labels, 1/total)
		require.NoError(t, err)
		sum += s
		n += c
	}
	require.Equal(t, n16, n)
	require.InDelta(t, sum16, sum, 1e-4)
	require.Greater(t, relErr(big, make([]float32, len(big))), 0.0)
	require.LessOrEqual(t, relErr(allGrads(e), big), 1e-5)
}

// Training 4 steps equals training 2 steps, stopping, resuming and training 2 more, bit for
// bit (with dropout, bucketing and validation in play).
func TestResumeIsBitIdentical(t *testing.T) {
	m := stories(t)
	trainSet, valSet := synthetic(16, 2), synthetic(6, 3)

	full := smallAdapter(t, m, 0.1)
	tr, err := New(m, full, trainSet, valSet, runConfig(t.TempDir()))
	require.NoError(t, err)
	require.Equal(t, 2, tr.StepsPerEpoch())
	res, err := tr.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, 4, res.Steps)

	dir := t.TempDir()
	half := smallAdapter(t, m, 0.1)
	tr, err = New(m, half, trainSet, valSet, runConfig(dir))
	require.NoError(t, err)
	cancelAfter(t, tr, 2)
	latest, err := os.ReadFile(filepath.Join(dir, "checkpoints", "LATEST"))
	require.NoError(t, err)
	require.Equal(t, "step-00000002", strings.TrimSpace(string(latest)))

	resumed := smallAdapter(t, m, 0.1) // fresh matrices: everything comes from the checkpoint
	tr, err = Resume(m, resumed, trainSet, valSet, runConfig(dir))
	require.NoError(t, err)
	res2, err := tr.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, 4, res2.Steps)
	require.Equal(t, res.LastLoss, res2.LastLoss)
	require.Equal(t, res.BestValLoss, res2.BestValLoss)
	full.Each(func(l int, p model.Proj, pr *lora.Pair) {
		q := resumed.Pair(l, p)
		require.Equal(t, pr.A, q.A, "layer %d %s A", l, p)
		require.Equal(t, pr.B, q.B, "layer %d %s B", l, p)
	})
	raw, err := os.ReadFile(filepath.Join(dir, MetricsFile))
	require.NoError(t, err)
	require.Equal(t, 4, strings.Count(string(raw), `"loss"`), "one line per step, no duplicates:\n%s", raw)
	_, err = os.Stat(filepath.Join(dir, lora.WeightsFile))
	require.NoError(t, err, "the final adapter is written")
}

func TestNaNLossStopsAndKeepsCheckpoint(t *testing.T) {
	m := stories(t)
	dir := t.TempDir()
	a := smallAdapter(t, m, 0)
	cfg := runConfig(dir)
	tr, err := New(m, a, synthetic(16, 2), nil, cfg)
	require.NoError(t, err)
	tr.onStep = func(step int) {
		if step == 2 { // poison the adapter after the second checkpointed step
			a.Pair(0, model.ProjQ).B[0] = float32(math.NaN())
		}
	}
	_, err = tr.Run(context.Background())
	require.ErrorContains(t, err, "loss is NaN at step 3")
	latest, err := os.ReadFile(filepath.Join(dir, "checkpoints", "LATEST"))
	require.NoError(t, err)
	require.Equal(t, "step-00000002", strings.TrimSpace(string(latest)))
	saved, err := lora.Load(filepath.Join(dir, "checkpoints", "step-00000002"), m)
	require.NoError(t, err)
	require.False(t, math.IsNaN(float64(saved.Pair(0, model.ProjQ).B[0])))
}

func TestEarlyStoppingRestoresBest(t *testing.T) {
	m := stories(t)
	a := smallAdapter(t, m, 0)
	cfg := runConfig("")
	cfg.Epochs, cfg.LR, cfg.Patience, cfg.MinImprovement = 30, 0.05, 2, 0.01
	// The validation loss gets worse as training fits the training answers, so early
	// stopping must trigger and restore the best epoch.
	trainSet, valSet := diverging()
	tr, err := New(m, a, trainSet, valSet, cfg)
	require.NoError(t, err)
	res, err := tr.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, "early stopping", res.Stopped)
	require.Less(t, res.Epochs, 30)
	got, err := Loss(context.Background(), m, a, valSet, 8, 0)
	require.NoError(t, err)
	require.InDelta(t, res.BestValLoss, got, 1e-5, "the best adapter is restored")
}

func rssBytes(t *testing.T) int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm on this system")
	}
	f := strings.Fields(string(raw))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// The activations of a step are released: RSS after step 200 is within 10% of step 20.
func TestMemoryDoesNotGrow(t *testing.T) {
	if testing.Short() {
		t.Skip("200 steps")
	}
	m := stories(t)
	a := smallAdapter(t, m, 0)
	cfg := runConfig("")
	cfg.Epochs, cfg.LR, cfg.Patience = 100, 1e-4, 0
	tr, err := New(m, a, synthetic(16, 6), nil, cfg)
	require.NoError(t, err)
	var at20, at200 int64
	tr.onStep = func(step int) {
		if step == 20 || step == 200 {
			runtime.GC()
			debug.FreeOSMemory()
			if step == 20 {
				at20 = rssBytes(t)
			} else {
				at200 = rssBytes(t)
			}
		}
	}
	_, err = tr.Run(context.Background())
	require.NoError(t, err)
	t.Logf("RSS at step 20: %.1f MiB, at step 200: %.1f MiB", float64(at20)/(1<<20), float64(at200)/(1<<20))
	require.LessOrEqual(t, float64(at200), 1.1*float64(at20))
}

func heapMiB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// Many batch shapes (long prompts of varied length) must not accumulate memory: a compiled
// graph releases its step's activations after the run. (gorgonia keeps node values bound and
// never frees a dropped graph: without the release this grew by ~400 MiB per step.)
func TestManyShapesDoNotAccumulateMemory(t *testing.T) {
	m := stories(t)
	a := smallAdapter(t, m, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]Example, 160)
	for i := range xs {
		p := make([]int, 100+rng.IntN(80))
		for j := range p {
			p[j] = 3 + rng.IntN(500)
		}
		xs[i] = Example{Prompt: p, Answer: []int{300}}
	}
	cfg := runConfig("")
	cfg.Epochs, cfg.Patience, cfg.BatchSize, cfg.Accum = 1, 0, 4, 2
	tr, err := New(m, a, xs, nil, cfg)
	require.NoError(t, err)
	var at5, at20 float64
	tr.onStep = func(step int) {
		switch step {
		case 5:
			at5 = heapMiB()
		case 20:
			at20 = heapMiB()
		}
	}
	_, err = tr.Run(context.Background())
	require.NoError(t, err)
	t.Logf("heap at step 5: %.0f MiB, at step 20: %.0f MiB, %d graphs compiled", at5, at20, len(tr.e.graphs))
	require.Less(t, at20-at5, 64.0)
}
