// The benchmark phases: scoring, training (random or survey workload) and GEMM.

package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/train"
)

// workload is what the timed phases run on.
type workload struct {
	batch     model.Batch
	scoreRows []int   // flat indices whose logits scoring reads
	labels    []int32 // [B*T] training labels (train.IgnoreIndex where no loss)
	nLabels   int     // labels that count
	// survey: the training batches (repeat i trains on batches[i % len]), real tokens per batch
	batches [][]train.Example
	tokens  float64
}

// newWorkload builds the phases' inputs. "random": random token ids, scoring at the last
// position of every row, and one random target per row, predicted from the row's
// next-to-last position (labels shift by one: the label at position T-1 is predicted by the
// logits at T-2).
func newWorkload(o options, c *model.Config, logf func(string, ...any)) (*workload, error) {
	switch o.workload {
	case "random":
		rng := rand.New(rand.NewPCG(o.seed+2, 0xbe4c))
		b := model.Batch{B: o.batch, T: o.seq, IDs: make([]int32, o.batch*o.seq)}
		for i := range b.IDs {
			b.IDs[i] = int32(rng.IntN(c.VocabSize))
		}
		w := &workload{batch: b, scoreRows: b.Last(), labels: make([]int32, len(b.IDs))}
		for i := range w.labels {
			w.labels[i] = train.IgnoreIndex
		}
		if o.seq >= 2 {
			for r := range o.batch {
				w.labels[r*o.seq+o.seq-1] = int32(rng.IntN(c.VocabSize))
				w.nLabels++
			}
		}
		return w, nil
	case "survey":
		return surveyWorkload(o, c, logf)
	}
	return nil, fmt.Errorf("unknown workload %q", o.workload)
}

// bench runs the phases and collects the result.
func bench(ctx context.Context, o options, stderr io.Writer) (*result, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "[bench] "+format+"\n", a...) }
	c := o.preset.cfg
	res := &result{
		Bench: "valora_bench", Preset: o.preset.name, Workload: o.workload, PrefixSharing: o.prefixSharing, CPU: cpuName(),
		Kernel: model.KernelName(), Go: runtime.Version(), Threads: runtime.GOMAXPROCS(0),
		Batch: o.batch, Seq: o.seq, Rank: o.rank, Alpha: o.alpha, Warmup: o.warmup, Seed: o.seed,
		Model: modelJSON(&c), Env: map[string]string{},
	}
	for _, k := range []string{"GOGC", "GOMEMLIMIT", "GODEBUG", "GOAMD64"} {
		if v, ok := os.LookupEnv(k); ok {
			res.Env[k] = v
		}
	}

	m, err := buildModel(o, res, logf)
	if err != nil {
		return nil, err
	}
	defer func() {
		if m != nil && m.Dir != "" {
			m.Close() // the mapped checkpoint
		}
	}()
	c = m.Config
	res.Model = modelJSON(&c)
	w, err := newWorkload(o, &c, logf)
	if err != nil {
		return nil, err
	}
	// The memory of training, checked before the adapter takes any.
	lc := adapterConfig(o)
	plan := train.MemoryPlan{Shape: train.StepShape{Batch: w.batch.B, Seq: w.batch.T, Predicted: max(w.nLabels, o.batch)},
		Checkpointing: o.checkpointing, Limit: o.memoryLimit}
	if plan.Limit == 0 {
		if avail, err := train.AvailableMemory(); err == nil {
			plan.Limit = avail
		}
	}
	est, err := train.PlanMemory(m, lc, plan)
	if err != nil && !o.noTrain {
		return nil, err
	}
	mib := func(b int64) float64 { return math.Round(float64(b)/(1<<20)*10) / 10 }
	res.Checkpointing, res.MemEstimateMB, res.MemAvailableMB = est.Checkpointing, mib(est.Total), mib(plan.Limit)
	res.MemEstimate = memMB{Weights: mib(est.Weights), Embedding: mib(est.Embedding), Adapter: mib(est.Adapter),
		Activations: mib(est.Activations), Overhead: mib(est.Overhead), Total: mib(est.Total)}
	logf("memory: training needs about %s; %.2f GiB available", est, float64(plan.Limit)/(1<<30))
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && m.Dir != "" {
		// Everything but the mapped weights is the Go heap: a soft limit a little above its
		// estimate keeps the collector from letting garbage grow it toward twice its size.
		goMem := (est.Total-est.Weights)*23/20 + 256<<20
		debug.SetMemoryLimit(goMem)
		res.GoMemLimitMB = mib(goMem)
	}
	t0 := time.Now()
	ad, err := newAdapter(m, o)
	if err != nil {
		return nil, err
	}
	res.Params = map[string]int{"base": baseParams(m), "lora": ad.NumParams()}
	res.Flops = flops(&c, o.rank, o.batch, o.seq)
	res.BuildS = res.LoadS + time.Since(t0).Seconds() // the model (built or loaded) and the adapter
	res.RSSMB.AfterBuildPeak = peakRSSMiB()
	logf("base %.1fM params, LoRA %.2fM, build %.1fs", float64(res.Params["base"])/1e6,
		float64(ad.NumParams())/1e6, res.BuildS)

	samples, tokens := float64(o.batch), float64(o.batch*o.seq)
	if w.batches != nil {
		res.Seq = w.batch.T
		tokens = w.tokens
		res.Flops = flops(&c, o.rank, o.batch, int(math.Round(w.tokens/float64(o.batch))))
	}

	if !o.noScore {
		logf("score: warmup %d, steps %d", o.warmup, o.scoreSteps)
		opt := model.Options{Rows: w.scoreRows, Adapter: ad}
		lsm := make([]float32, c.VocabSize)
		ts, err := timeRuns(o.warmup, o.scoreSteps, func() error {
			out, err := m.Forward(ctx, w.batch, opt)
			if err != nil {
				return err
			}
			for i := range w.scoreRows {
				logSoftmax(out.Row(i), lsm)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scoring: %w", err)
		}
		s := summarise(ts, samples, tokens, res.Flops["score_gflop"])
		res.Score, res.ScoreSamplesPerS, res.ScoreS = s, &s.SamplesPerS, s.MedianS
		res.RSSMB.AfterScorePeak = peakRSSMiB()
		logf("score %.3fs  %.2f samples/s  %.1f tok/s", s.MedianS, s.SamplesPerS, s.TokensPerS)
	}

	if !o.noTrain {
		if w.nLabels == 0 {
			return nil, fmt.Errorf("training needs -seq of at least 2")
		}
		logf("train: warmup %d, steps %d", o.warmup, o.trainSteps)
		e, err := train.NewEngine(m, ad, o.seed+3)
		if err != nil {
			return nil, fmt.Errorf("training engine: %w", err)
		}
		e.Checkpointing, e.MemoryLimit = train.CheckpointOff, plan.Limit // as planned
		if est.Checkpointing {
			e.Checkpointing = train.CheckpointOn
		}
		adam := train.DefaultAdamW()
		adam.WeightDecay = 0.01
		losses := []float64{}
		step, warmup := 0, o.warmup
		if w.batches != nil { // every batch the timed steps use is seen warmup times first
			warmup *= len(w.batches)
		}
		// A new engine's gradients are zero and every update clears them in its own pass, as
		// the trainer runs it (torch's zero_grad(set_to_none=True) costs nothing either).
		ts, err := timeRuns(warmup, o.trainSteps, func() error {
			var sum float64
			var n int
			var err error
			if w.batches != nil {
				xs := w.batches[step%len(w.batches)]
				step++
				sum, n, err = e.AccumulateExamples(ctx, xs, 0, 1/float32(train.AnswerTokens(xs)), o.prefixSharing)
			} else {
				sum, n, err = e.Accumulate(ctx, w.batch, w.labels, 1/float32(w.nLabels))
			}
			if err != nil {
				return err
			}
			if _, err := e.Update(adam, o.lr, train.UpdateOptions{ZeroGrad: true}); err != nil {
				return err
			}
			losses = append(losses, math.Round(sum/float64(n)*1e5)/1e5)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("training: %w", err)
		}
		s := summarise(ts, samples, tokens, res.Flops["train_gflop"])
		res.Train, res.TrainSamplesPerS, res.Losses, res.TrainStepS = s, &s.SamplesPerS, losses, s.MedianS
		res.RSSMB.AfterTrainPeak = peakRSSMiB()
		logf("train %.3fs  %.2f samples/s  %.1f tok/s  losses %v", s.MedianS, s.SamplesPerS, s.TokensPerS, losses)
	}

	res.RSSMB.Peak = peakRSSMiB()
	logf("peak RSS %.0f MiB, estimate %.0f MiB", res.RSSMB.Peak, res.MemEstimateMB)
	if !o.noGemm {
		if m.Dir != "" {
			m.Close()
		}
		m, ad, w = nil, nil, nil // as the harness, free the model before the GEMM buffers
		if res.GoMemLimitMB > 0 {
			debug.SetMemoryLimit(math.MaxInt64) // the limit set for training
		}
		runtime.GC()
		debug.FreeOSMemory()
		res.GemmGFLOPS = map[string]float64{}
		shapes := [][3]int{{2048, 2048, 2048}, {1024, 4096, 1024}, {1024, 1024, 1024},
			{o.batch * o.seq, c.HiddenSize, c.IntermediateSize}} // the last: the model's MLP
		logf("gemm ...")
		var report []string
		for i, s := range shapes {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			key := fmt.Sprintf("%dx%dx%d", s[0], s[1], s[2])
			g := model.GemmGFLOPS(s[0], s[1], s[2], o.gemmReps)
			res.GemmGFLOPS[key] = g
			if i < 3 {
				res.GemmPeakGFLOPS = max(res.GemmPeakGFLOPS, g)
			}
			report = append(report, fmt.Sprintf("%s: %.1f", key, g))
		}
		logf("gemm %s", strings.Join(report, ", "))
	}

	res.RSSMB.Peak = peakRSSMiB()
	res.PeakRSSMB = res.RSSMB.Peak
	return res, nil
}

// logSoftmax writes log-softmax(x) to dst (len(dst) >= len(x)), accumulating in float64.
func logSoftmax(x, dst []float32) {
	mx := float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v - mx))
	}
	lse := float32(math.Log(sum)) + mx
	for i, v := range x {
		dst[i] = v - lse
	}
}
