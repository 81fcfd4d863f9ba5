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
	"os"
	"path/filepath"
	"runtime"

	"github.com/valora-go/valora/examples/internal/cli"
	"github.com/valora-go/valora/train"
)

func main() { cli.Main(run) }

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
		return cli.Status(stderr, "bench", err)
	}
	line, err := json.Marshal(res)
	if err != nil {
		return cli.Status(stderr, "bench", fmt.Errorf("encoding the result: %w", err))
	}
	_, err = fmt.Fprintf(stdout, "%s\n", line)
	return cli.Status(stderr, "bench", err)
}

// parse reads the flags. code is -1 when the benchmark should run, else the exit status (0 for
// -h, 2 for bad flags).
func parse(args []string, stderr io.Writer) (o options, code int) {
	fs := cli.NewFlagSet("bench", stderr)
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
