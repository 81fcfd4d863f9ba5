// Command bench measures valora's LoRA scoring and training throughput, peak memory and GEMM
// speed on a random model of a preset shape, and prints one JSON line on stdout (progress goes
// to stderr). Its presets, flags and keys follow the PyTorch harness in ../shared/bench/
// (torch_lora_bench.py), which compare.sh runs back to back with it:
//
//	go run ./examples/bench -preset qwen3-0.6b -steps 3
//	../shared/bench/compare.sh qwen3-0.6b 3
//
// Phases, in the harness's order: build the model (float32, weights N(0, 0.02²)) and a LoRA
// adapter on all seven projections (A as PEFT initialises it, B ~ N(0, 0.001²) so that the
// adapter's product is not zero); score (a forward pass over batch x seq random tokens, logits
// and their log-softmax at the last position of every row); train (forward, backward and an
// AdamW step with lr 1e-4 and weight decay 0.01, cross-entropy on one position per row); then
// GEMM GFLOP/s on fixed shapes and the model's MLP shape. Each timed phase runs -warmup untimed
// repeats, then -steps timed ones, and reports their median. peak_rss_mb is the process's peak
// resident set (getrusage ru_maxrss) at the end, as the harness's rss_mb.peak.
//
// -workload survey trains on survey prompts instead (survey.go): the authors' instrument
// (../shared/data/survey/kvs_data_new.json beside the repository, else the built-in one) in the
// Qwen3 chat template of testdata/qwen3-tokenizer, batch 16, the loss on the rating digit, the
// batches ordered as the trainer orders them (one per timed step, each trained on -warmup
// times before the timing, as the random workload's one batch is, so that the graphs of their
// shapes are compiled: a run meets the same few shapes again and again); -prefix-sharing=false
// runs every row in full.
//
//	go run ./examples/bench -preset qwen3-0.6b -workload survey
//	go run ./examples/bench -preset qwen3-0.6b -workload survey -prefix-sharing=false
//
// -dtype bf16 runs the model as a user does: a random bfloat16 checkpoint of the preset's shape
// in the Hugging Face layout is written to -scratch (reused when it is already there; free disk
// space is checked first) and loaded with model.Load, memory-mapped; -model DIR loads a real
// checkpoint instead (its own shape; the preset gives rank and alpha). Before anything is
// trained, the memory the run needs is estimated (train.PlanMemory: weights, adapter state,
// activations, overhead) and compared with the memory available: if it does not fit, the
// program stops and says what would. Gradient checkpointing (-checkpoint) is chosen there when
// only it fits. The full-size presets (llama3.1-8b, qwen3-8b, falcon3-7b: the published
// configs of the models the original work tuned) are bf16 by default and run each phase once:
//
//	go run ./examples/bench -preset llama3.1-8b -dtype bf16
//	go run ./examples/bench -preset small -dtype bf16 -scratch /tmp/small-bf16 -checkpoint on
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/train"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed flags.
type options struct {
	preset                 preset
	workload               string // what the timed phases run on: "random" (random token ids) or "survey"
	prefixSharing          bool   // survey: run the rows' shared prompt prefixes once
	surveyFile, tokenizer  string // survey: the instrument and the tokenizer ("": found beside the repository)
	batch, seq             int
	scoreSteps, trainSteps int
	warmup                 int
	rank                   int
	alpha                  float64
	lr                     float64
	seed                   uint64
	threads                int
	gemmReps               int
	noScore, noTrain       bool
	noGemm                 bool
	dtype                  string // "f32" (a random model in memory) or "bf16" (a random checkpoint file)
	scratch                string // bf16: where the random checkpoint goes
	modelDir               string // a checkpoint to load instead
	checkpointing          train.Checkpointing
	memoryLimit            int64 // bytes training may take (0: the memory available)
}

// stats summarises the timed repeats of a phase.
type stats struct {
	MedianS        float64 `json:"median_s"`
	MinS           float64 `json:"min_s"`
	MaxS           float64 `json:"max_s"`
	N              int     `json:"n"`
	SamplesPerS    float64 `json:"samples_per_s"`
	TokensPerS     float64 `json:"tokens_per_s"`
	AchievedGFLOPS float64 `json:"achieved_gflops"`
}

// rssMB holds peak resident set sizes (ru_maxrss) in MiB after each phase.
type rssMB struct {
	AfterBuildPeak float64 `json:"after_build_peak"`
	AfterScorePeak float64 `json:"after_score_peak,omitempty"`
	AfterTrainPeak float64 `json:"after_train_peak,omitempty"`
	Peak           float64 `json:"peak"`
}

// memMB is the memory estimate (train.MemoryEstimate) in MiB.
type memMB struct {
	Weights     float64 `json:"weights"`
	Embedding   float64 `json:"embedding"`
	Adapter     float64 `json:"adapter"`
	Activations float64 `json:"activations"`
	Overhead    float64 `json:"overhead"`
	Total       float64 `json:"total"`
}

// result is the JSON line. Phases that did not run leave their keys out.
type result struct {
	Bench            string             `json:"bench"`
	Preset           string             `json:"preset"`
	Workload         string             `json:"workload"`
	PrefixSharing    bool               `json:"prefix_sharing"`
	CPU              string             `json:"cpu"`
	Kernel           string             `json:"kernel"`
	Go               string             `json:"go"`
	Threads          int                `json:"threads"`
	Batch            int                `json:"batch"`
	Seq              int                `json:"seq"`
	Rank             int                `json:"rank"`
	Alpha            float64            `json:"alpha"`
	Warmup           int                `json:"warmup"`
	Seed             uint64             `json:"seed"`
	Model            map[string]any     `json:"model"`
	Env              map[string]string  `json:"env"`
	Params           map[string]int     `json:"params"`
	Flops            map[string]float64 `json:"flops"`
	BuildS           float64            `json:"build_s"`
	ScoreSamplesPerS *float64           `json:"score_samples_per_s,omitempty"`
	TrainSamplesPerS *float64           `json:"train_samples_per_s,omitempty"`
	PeakRSSMB        float64            `json:"peak_rss_mb"`
	Score            *stats             `json:"score,omitempty"`
	Train            *stats             `json:"train,omitempty"`
	Losses           []float64          `json:"losses,omitempty"`
	GemmGFLOPS       map[string]float64 `json:"gemm_gflops,omitempty"`
	GemmPeakGFLOPS   float64            `json:"gemm_peak_gflops,omitempty"`
	RSSMB            rssMB              `json:"rss_mb"`

	DType            string  `json:"dtype"`                        // the weights' precision
	CheckpointDir    string  `json:"checkpoint_dir,omitempty"`     // the checkpoint loaded (bf16, -model)
	CheckpointWriteS float64 `json:"checkpoint_write_s,omitempty"` // writing the random checkpoint (0: reused)
	LoadS            float64 `json:"load_s,omitempty"`             // model.Load
	Checkpointing    bool    `json:"checkpointing"`                // activations recomputed per layer
	MemEstimateMB    float64 `json:"mem_estimate_mb"`              // estimated peak of training
	MemEstimate      memMB   `json:"mem_estimate"`
	MemAvailableMB   float64 `json:"mem_available_mb,omitempty"` // the limit it was checked against
	GoMemLimitMB     float64 `json:"go_memory_limit_mb,omitempty"`
	ScoreS           float64 `json:"score_s,omitempty"`      // median scoring pass
	TrainStepS       float64 `json:"train_step_s,omitempty"` // median training step
}

// run parses args, runs the benchmark and writes the JSON line to stdout. It returns 0 on
// success, 2 for bad flags and 1 for any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, code := parse(args, stderr)
	if code >= 0 {
		return code
	}
	if o.threads > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(o.threads))
	}
	res, err := bench(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(stderr, "bench: encoding the result: %v\n", err)
		return 1
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

// parse reads the flags. code is -1 when the benchmark should run, else the exit status (0 for
// -h, 2 for bad flags).
func parse(args []string, stderr io.Writer) (o options, code int) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("preset", "small", "model shape: "+presetNames())
	batch := fs.Int("batch", 4, "rows per batch (B)")
	seq := fs.Int("seq", 96, "tokens per row (T)")
	steps := fs.Int("steps", 3, "timed repeats of each phase (the median is reported)")
	scoreSteps := fs.Int("score-steps", 0, "timed scoring repeats (default: -steps)")
	trainSteps := fs.Int("train-steps", 0, "timed training steps (default: -steps)")
	warmup := fs.Int("warmup", 1, "untimed repeats before the timed ones")
	rank := fs.Int("rank", 0, "LoRA rank (default: the preset's, 128; tiny 16)")
	alpha := fs.Float64("alpha", 0, "LoRA alpha (default: the preset's, 512; tiny 64; 4*rank when -rank is given)")
	lr := fs.Float64("lr", 1e-4, "AdamW learning rate")
	seed := fs.Uint64("seed", 0, "seed of the model (seed), the adapter (seed+1) and the tokens (seed+2)")
	threads := fs.Int("threads", 0, "GOMAXPROCS (default: all processors)")
	gemmReps := fs.Int("gemm-reps", 5, "timed repeats of each GEMM shape")
	noScore := fs.Bool("no-score", false, "skip scoring")
	noTrain := fs.Bool("no-train", false, "skip training")
	noGemm := fs.Bool("no-gemm", false, "skip the GEMM measurements")
	wl := fs.String("workload", "random", "random (random tokens, loss on the last position) or survey (survey prompts in the Qwen3 chat template, batch 16, loss on the rating digit)")
	sharing := fs.Bool("prefix-sharing", true, "survey: run the prompt prefixes that a batch's rows share once")
	surveyFile := fs.String("survey", "", "survey: the instrument file (default: ../shared/data/survey/kvs_data_new.json beside the repository, else the built-in instrument)")
	tokDir := fs.String("tokenizer", "", "survey: tokenizer directory (default: the repository's testdata/qwen3-tokenizer)")
	dtype := fs.String("dtype", "", "weights: f32 (a random model in memory; the small presets' default) or bf16 (a random checkpoint written to -scratch and memory-mapped; the full-size presets' default)")
	scratch := fs.String("scratch", "", "bf16: directory of the random checkpoint, reused when it is there (default: <temp>/valora-bench/<preset>-bf16-seed<seed>)")
	modelDir := fs.String("model", "", "load this checkpoint directory instead of a random model (its own shape; the preset gives rank and alpha)")
	ckpt := fs.String("checkpoint", "auto", "gradient checkpointing: auto (when the step would not fit in memory otherwise), on or off")
	memLimit := fs.Float64("memory-limit", 0, "GiB training may take, weights included (0: the memory available)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return o, 0
		}
		return o, 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	usage := func(format string, a ...any) (options, int) {
		fmt.Fprintf(stderr, "bench: %s\n", fmt.Sprintf(format, a...))
		fs.Usage()
		return o, 2
	}
	p, ok := findPreset(*name)
	switch {
	case fs.NArg() > 0:
		return usage("unexpected arguments %q", fs.Args())
	case !ok:
		return usage("unknown preset %q (want %s)", *name, presetNames())
	case *batch < 1 || *seq < 1:
		return usage("-batch %d -seq %d: both must be at least 1", *batch, *seq)
	case *steps < 1 || *scoreSteps < 0 || *trainSteps < 0 || set["score-steps"] && *scoreSteps < 1 || set["train-steps"] && *trainSteps < 1:
		return usage("-steps, -score-steps and -train-steps must be at least 1")
	case *warmup < 0:
		return usage("-warmup %d: must be at least 0", *warmup)
	case set["rank"] && *rank < 1:
		return usage("-rank %d: must be at least 1", *rank)
	case set["alpha"] && !(*alpha > 0 && !math.IsInf(*alpha, 0)):
		return usage("-alpha %v: must be positive", *alpha)
	case !(*lr >= 0 && !math.IsInf(*lr, 0)):
		return usage("-lr %v: must be finite and at least 0", *lr)
	case *threads < 0:
		return usage("-threads %d: must be at least 0 (0: all processors)", *threads)
	case *gemmReps < 1:
		return usage("-gemm-reps %d: must be at least 1", *gemmReps)
	case *wl != "random" && *wl != "survey":
		return usage("-workload %q: want random or survey", *wl)
	case !(*memLimit >= 0 && *memLimit < 1<<30):
		return usage("-memory-limit %v: want GiB, 0 for the memory available", *memLimit)
	}
	mode, err := train.ParseCheckpointing(*ckpt)
	if err != nil {
		return usage("-checkpoint %q: want auto, on or off", *ckpt)
	}
	dt := map[string]string{"": "", "f32": "f32", "float32": "f32", "bf16": "bf16", "bfloat16": "bf16"}
	d, ok := dt[*dtype]
	if !ok {
		return usage("-dtype %q: want f32 or bf16", *dtype)
	}
	if d == "" {
		d = "f32"
		if p.full {
			d = "bf16"
		}
	}
	o = options{preset: p, workload: *wl, prefixSharing: *sharing, surveyFile: *surveyFile, tokenizer: *tokDir, batch: *batch, seq: *seq, scoreSteps: *steps, trainSteps: *steps,
		warmup: *warmup, rank: p.rank, alpha: p.alpha, lr: *lr, seed: *seed, threads: *threads,
		gemmReps: *gemmReps, noScore: *noScore, noTrain: *noTrain, noGemm: *noGemm,
		dtype: d, scratch: *scratch, modelDir: *modelDir, checkpointing: mode, memoryLimit: int64(*memLimit * (1 << 30))}
	if p.full { // one repeat of each phase: a step of an 8B model takes minutes on a few cores
		if !set["steps"] {
			o.scoreSteps, o.trainSteps = 1, 1
		}
		if !set["warmup"] {
			o.warmup = 0
		}
	}
	if o.dtype == "bf16" && o.scratch == "" && o.modelDir == "" {
		o.scratch = filepath.Join(os.TempDir(), "valora-bench", fmt.Sprintf("%s-bf16-seed%d", p.name, o.seed))
	}
	if o.workload == "survey" && !set["batch"] {
		o.batch = 16
	}
	if set["score-steps"] {
		o.scoreSteps = *scoreSteps
	}
	if set["train-steps"] {
		o.trainSteps = *trainSteps
	}
	if set["rank"] {
		o.rank, o.alpha = *rank, 4*float64(*rank)
	}
	if set["alpha"] {
		o.alpha = *alpha
	}
	return o, -1
}

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

// buildModel makes the benchmark's model: a random float32 one in memory, a random bfloat16
// checkpoint written to o.scratch (reused when there) and loaded, or o.modelDir loaded.
func buildModel(o options, res *result, logf func(string, ...any)) (*model.Model, error) {
	c := o.preset.cfg
	dir := o.modelDir
	res.DType = o.dtype
	if dir == "" && o.dtype == "f32" {
		half, _, _ := c.TensorBytes()
		avail, err := train.AvailableMemory()
		if o.memoryLimit > 0 {
			avail, err = o.memoryLimit, nil
		}
		if err == nil && 2*half > avail {
			return nil, fmt.Errorf("preset %s: its float32 weights take %.1f GiB, more than the %.1f GiB available; -dtype bf16 writes them as a bfloat16 checkpoint and maps it",
				o.preset.name, float64(2*half)/(1<<30), float64(avail)/(1<<30))
		}
		t0 := time.Now()
		logf("building %s (float32, %d threads, kernel %s) ...", o.preset.name, res.Threads, res.Kernel)
		m, err := model.Random(c, o.seed)
		if err != nil {
			return nil, fmt.Errorf("building the model: %w", err)
		}
		res.LoadS = time.Since(t0).Seconds()
		return m, nil
	}
	if dir == "" {
		dir = o.scratch
		if !o.noTrain && o.workload == "random" {
			// Before 16 GB are written for nothing: does training fit at all?
			plan := train.MemoryPlan{Shape: train.StepShape{Batch: o.batch, Seq: o.seq, Predicted: o.batch},
				Checkpointing: o.checkpointing, Limit: o.memoryLimit}
			if _, err := train.PlanMemoryConfig(&c, "bfloat16", adapterConfig(o), plan); err != nil {
				return nil, err
			}
		}
		need, err := model.RandomCheckpointBytes(c, "bfloat16")
		if err != nil {
			return nil, err
		}
		if err := checkDisk(dir, need); err != nil {
			return nil, err
		}
		logf("random bfloat16 checkpoint of %s (%.2f GB) in %s ...", o.preset.name, float64(need)/1e9, dir)
		t0 := time.Now()
		reused, err := model.WriteRandom(dir, c, "bfloat16", o.seed)
		if err != nil {
			return nil, err
		}
		if reused {
			logf("reused the checkpoint already there")
		} else {
			res.CheckpointWriteS = time.Since(t0).Seconds()
			logf("written in %.1fs", res.CheckpointWriteS)
		}
	}
	t0 := time.Now()
	m, err := model.Load(dir)
	if err != nil {
		return nil, err
	}
	res.LoadS = time.Since(t0).Seconds()
	res.CheckpointDir = dir
	res.DType = strings.TrimPrefix(m.Config.DType, "torch.")
	logf("loaded %s (%s, memory-mapped) in %.2fs, %d threads, kernel %s", dir, res.DType, res.LoadS, res.Threads, res.Kernel)
	return m, nil
}

// checkDisk fails when the file system of dir (created if needed) has less room than need
// bytes beyond the weight files already there (which a rewrite replaces one at a time).
func checkDisk(dir string, need int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("scratch directory: %w", err)
	}
	free, ok := freeDisk(dir)
	if !ok {
		return nil // not measurable here: the write fails if it must
	}
	var held, largest int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".safetensors") {
			if info, err := e.Info(); err == nil {
				held += info.Size()
				largest = max(largest, info.Size())
			}
		}
	}
	if free+held-largest < need {
		return fmt.Errorf("scratch directory %s: the checkpoint needs %.2f GB, the file system has %.2f GB free (plus %.2f GB of weight files there now); free some space or pass -scratch on another disk",
			dir, float64(need)/1e9, float64(free)/1e9, float64(held)/1e9)
	}
	return nil
}

// adapterConfig is the benchmark's adapter: rank o.rank on every projection.
func adapterConfig(o options) lora.Config {
	cfg := lora.DefaultConfig()
	cfg.Rank, cfg.Alpha, cfg.Targets, cfg.Seed = o.rank, o.alpha, lora.AllProjections(), o.seed+1
	return cfg
}

// newAdapter creates the rank-o.rank adapter on every projection: A as PEFT initialises it
// (seed+1), B drawn from N(0, 0.001²) as the harness's b_std, so that its update is not zero.
func newAdapter(m *model.Model, o options) (*lora.Adapter, error) {
	ad, err := lora.New(m, adapterConfig(o))
	if err != nil {
		return nil, fmt.Errorf("creating the adapter: %w", err)
	}
	rng := rand.New(rand.NewPCG(o.seed+1, 0xb57d))
	ad.Each(func(_ int, _ model.Proj, p *lora.Pair) {
		for i := range p.B {
			p.B[i] = float32(rng.NormFloat64() * 1e-3)
		}
	})
	return ad, nil
}

// modelJSON describes the model's shape with config.json's keys, as the harness does.
func modelJSON(c *model.Config) map[string]any {
	return map[string]any{
		"model_type": c.ModelType, "vocab_size": c.VocabSize, "hidden_size": c.HiddenSize,
		"intermediate_size": c.IntermediateSize, "num_hidden_layers": c.NumLayers,
		"num_attention_heads": c.NumHeads, "num_key_value_heads": c.NumKVHeads, "head_dim": c.HeadDim,
		"rms_norm_eps": c.RMSNormEps, "rope_theta": c.RopeTheta, "tie_word_embeddings": c.TieWordEmbeddings,
	}
}

// baseParams counts the frozen model's values (a tied LM head once).
func baseParams(m *model.Model) int {
	c := &m.Config
	n := c.VocabSize*c.HiddenSize + c.HiddenSize // embedding, final norm
	if !c.TieWordEmbeddings {
		n += c.VocabSize * c.HiddenSize
	}
	per := 2 * c.HiddenSize // input and post-attention norms
	if c.QKNorm {
		per += 2 * c.HeadDim
	}
	for p := model.Proj(0); p < model.NumProj; p++ {
		s := c.ProjShape(p)
		per += s[0] * s[1]
	}
	return n + c.NumLayers*per
}

// flops is the harness's FLOP model (loss on one position per row): useful GFLOP per scoring
// call and per training step, a multiply-add counting 2, attention counted in full (T x T).
func flops(c *model.Config, r, b, t int) map[string]float64 {
	h, in, l, v := float64(c.HiddenSize), float64(c.IntermediateSize), float64(c.NumLayers), float64(c.VocabSize)
	nq, nkv := float64(c.NumHeads*c.HeadDim), float64(c.NumKVHeads*c.HeadDim)
	rf, n := float64(r), float64(b*t)
	pLin := h*nq + 2*h*nkv + nq*h + 3*h*in
	pLoRA := rf * ((h + nq) + 2*(h+nkv) + (nq + h) + 2*(h+in) + (in + h))
	attn := 4 * float64(b) * float64(t) * float64(t) * float64(c.NumHeads*c.HeadDim) * l
	body := 2*n*l*(pLin+pLoRA) + attn
	head := 2 * float64(b) * h * v
	score := body + head
	trainF := body + head + 2*n*l*pLin + 4*n*l*pLoRA + 2*attn + head
	return map[string]float64{"score_gflop": score / 1e9, "train_gflop": trainF / 1e9}
}

// timeRuns calls fn warmup times, then steps times, timing each of the latter.
func timeRuns(warmup, steps int, fn func() error) ([]float64, error) {
	for range warmup {
		if err := fn(); err != nil {
			return nil, err
		}
	}
	ts := make([]float64, steps)
	for i := range ts {
		t0 := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		ts[i] = time.Since(t0).Seconds()
	}
	return ts, nil
}

// summarise computes the median, range and rates of timed runs; samples, tokens and gflop are
// per run.
func summarise(ts []float64, samples, tokens, gflop float64) *stats {
	s := slices.Clone(ts)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	med = max(med, 1e-9)
	return &stats{MedianS: med, MinS: s[0], MaxS: s[len(s)-1], N: len(s),
		SamplesPerS: samples / med, TokensPerS: tokens / med, AchievedGFLOPS: gflop / med}
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

// cpuName is the processor's model name from /proc/cpuinfo, else GOARCH.
func cpuName() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				if name := strings.TrimSpace(v); name != "" {
					return name
				}
			}
		}
	}
	return runtime.GOARCH
}
