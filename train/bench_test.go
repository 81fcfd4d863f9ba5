package train

import (
	"context"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// qwenStep is the fixture of BenchmarkTrainStepQwen3_06B, built once per process so that the
// benchmark's repeated invocations (b.N = 1, then the requested count) share one model and
// the peak RSS is that of one training run.
var qwenStep struct {
	once   sync.Once
	e      *Engine
	batch  model.Batch
	labels []int32
	err    error
}

const qwenB, qwenT = 4, 96

func qwenStepFixture() error {
	f := &qwenStep
	f.once.Do(func() {
		m, err := model.Random(model.Qwen3_0_6BConfig(), 1)
		if err != nil {
			f.err = err
			return
		}
		a, err := lora.New(m, lora.DefaultConfig())
		if err != nil {
			f.err = err
			return
		}
		if f.e, f.err = NewEngine(m, a, 1); f.err != nil {
			return
		}
		f.batch, f.labels = labelledBatch(qwenB, qwenT, 1, randomTokens(rand.New(rand.NewPCG(3, 3)), 0, m.Config.VocabSize), sameToken)
		// warm-up: compiles the graph and fills the buffer pool, so that the benchmark
		// measures the steady state
		f.err = qwenTrainStep()
	})
	return f.err
}

func qwenTrainStep() error {
	f := &qwenStep
	// A new engine's gradients are zero, and the update clears them in its pass (as the
	// trainer does): no separate zeroing pass per step.
	if _, _, err := f.e.Accumulate(context.Background(), f.batch, f.labels, 1.0/qwenB); err != nil {
		return err
	}
	_, err := f.e.Update(DefaultAdamW(), 1e-4, UpdateOptions{ZeroGrad: true})
	return err
}

// BenchmarkTrainStepQwen3_06B times one training step (forward, backward, AdamW) of a rank-128
// adapter on all seven projections of a random model of Qwen3-0.6B's shape, batch 4 x 96, the
// loss on one position per row (as the survey's rating digit). A warm-up step runs before the
// timer (graph compilation, buffer pool), so B/op and allocs/op are the steady state's. The
// peakRSS-GiB metric is the process's peak resident set (model, adapter, optimizer, steps),
// activations-GiB the most bytes of the step's values and saved state live at once.
//
//	go test ./train -run '^$' -bench TrainStep -benchtime 3x -benchmem -cpuprofile cpu.prof
//	go tool pprof -top train.test cpu.prof
func BenchmarkTrainStepQwen3_06B(b *testing.B) {
	if err := qwenStepFixture(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := qwenTrainStep(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(qwenB*b.N)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(qwenStep.e.pool.peakBytes)/(1<<30), "activations-GiB")
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<30), "peakRSS-GiB")
	}
}

// peakRSS is the process's peak resident set size in bytes (getrusage's ru_maxrss), or 0
// where the system does not report it.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}
