package train

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// Config controls a training run. Start from DefaultConfig, the protocol's settings.
type Config struct {
	LR          float64 // peak learning rate
	WarmupRatio float64 // fraction of all steps with a linear warm-up from 0
	Schedule    string  // after warm-up: "constant" or "linear" (decay to 0 at the last step)
	Epochs      int     // passes over the training set
	BatchSize   int     // examples per micro-batch
	Accum       int     // micro-batches per optimizer step (effective batch = BatchSize·Accum)
	AdamW       AdamW
	// MaxGradNorm clips the global gradient norm before each step (0: no clipping).
	MaxGradNorm float64

	// Early stopping on the validation loss, measured at the end of every epoch (and every
	// EvalEvery steps when > 0): stop after Patience evaluations without an improvement of at
	// least MinImprovement; the best adapter is restored at the end.
	Patience       int
	MinImprovement float64
	EvalEvery      int

	Bucket bool   // group examples of similar length into micro-batches
	Seed   uint64 // data order and dropout
	Pad    int    // token id written in pad slots (masked, so any valid id)

	// PrefixSharing puts examples whose prompts share a prefix of at least 16 tokens into the
	// same micro-batches (the order stays random: groups, and rows within them, are shuffled)
	// and runs each micro-batch's common prefixes once (Engine.AccumulateExamples). Loss and
	// gradients are unchanged up to float32 rounding. A training set without shared prefixes, or
	// an adapter with dropout, is planned and run as without it.
	PrefixSharing bool

	// Dir receives checkpoints (dir/checkpoints/...) and metrics.jsonl; "" keeps nothing on disk.
	Dir string
	// SaveEvery writes a checkpoint every that many steps (0: at the end of each epoch only).
	SaveEvery int
	// Progress receives a progress bar (a terminal) or plain lines (anything else); nil: silent.
	Progress io.Writer

	// Checkpointing says when a step recomputes each layer's activations in the backward pass
	// instead of keeping them (memory.go); the zero value, CheckpointAuto, does for a batch
	// shape whose step would not fit in MemoryLimit otherwise. Results are the same either way.
	Checkpointing Checkpointing
	// MemoryLimit is the memory in bytes the run may take, weights included (0: AvailableMemory).
	// New returns an error, with the estimate and what would fit, when the estimated peak of the
	// largest micro-batch (PlanMemory) exceeds it.
	MemoryLimit int64

	// OnStep, if set, is called after every optimizer step, once its metrics are logged and
	// before the step's validation and checkpoint. OnEval, if set, is called after every
	// validation. They run on Run's goroutine: training waits for them. A hook that returns
	// ErrStop ends the run cleanly (see ErrStop); any other error stops it at once, as a
	// cancellation does, and Run returns the partial Result with that error wrapped.
	OnStep func(StepMetrics) error
	OnEval func(EvalMetrics) error

	// Threads caps the goroutines the run's kernels use, training steps and validation passes
	// alike: n > 0 at most n, 0 the model's cap (model.Model.SetThreads; uncapped by default).
	Threads int
}

// DefaultConfig is the protocol's training setup: lr 1e-4, warm-up 15% of the steps, then
// constant, effective batch 16 (4 x 4), 10 epochs, early stopping with patience 2 and minimum
// improvement 0.01, length bucketing, shared prompt prefixes run once.
func DefaultConfig() Config {
	return Config{LR: 1e-4, WarmupRatio: 0.15, Schedule: "constant", Epochs: 10, BatchSize: 4, Accum: 4,
		AdamW: DefaultAdamW(), Patience: 2, MinImprovement: 0.01, Bucket: true, PrefixSharing: true}
}

func (c *Config) validate() error {
	switch {
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("train: learning rate %v, want > 0", c.LR)
	case !(c.WarmupRatio >= 0 && c.WarmupRatio <= 1):
		return fmt.Errorf("train: warm-up ratio %v, want in [0,1]", c.WarmupRatio)
	case c.Schedule != "constant" && c.Schedule != "linear":
		return fmt.Errorf("train: schedule %q, want constant or linear", c.Schedule)
	case c.Epochs <= 0 || c.BatchSize <= 0 || c.Accum <= 0:
		return fmt.Errorf("train: epochs %d, batch %d, accumulation %d: all must be positive", c.Epochs, c.BatchSize, c.Accum)
	case c.Patience < 0 || c.EvalEvery < 0 || c.SaveEvery < 0 || c.MaxGradNorm < 0:
		return fmt.Errorf("train: negative patience, eval or save interval, or gradient norm")
	}
	if err := c.AdamW.validate(); err != nil {
		return err
	}
	// The settings are used in float32 (the kernels' precision): a value finite in float64 can
	// be infinite, or a positive one zero, once stored there (lr 1e39 is +Inf in float32).
	for _, f := range []struct {
		name     string
		v        float64
		positive bool
	}{
		{"learning rate", c.LR, true}, {"AdamW eps", c.AdamW.Eps, true}, {"AdamW weight decay", c.AdamW.WeightDecay, false},
		{"AdamW beta1", c.AdamW.Beta1, false}, {"AdamW beta2", c.AdamW.Beta2, false},
		{"max gradient norm", c.MaxGradNorm, false}, {"minimum improvement", c.MinImprovement, false},
	} {
		v32 := float32(f.v)
		if math.IsNaN(f.v) || math.IsInf(float64(v32), 0) || (f.positive && v32 == 0) {
			return fmt.Errorf("train: %s %v is not a finite%s float32 (the precision it is used in; float32 ranges over ±%g)",
				f.name, f.v, map[bool]string{true: " positive", false: ""}[f.positive], math.MaxFloat32)
		}
	}
	if c.MinImprovement < 0 {
		return fmt.Errorf("train: minimum improvement %v, want >= 0", c.MinImprovement)
	}
	return nil
}

// LRAt is the learning rate of optimizer step s (0-based) out of total, as transformers'
// get_constant_schedule_with_warmup / get_linear_schedule_with_warmup compute it.
func (c *Config) LRAt(s, total int) float64 {
	warm := int(math.Ceil(c.WarmupRatio * float64(total)))
	if s < warm {
		return c.LR * float64(s) / float64(max(1, warm))
	}
	if c.Schedule == "linear" {
		return c.LR * max(0, float64(total-s)/float64(max(1, total-warm)))
	}
	return c.LR
}

// Result summarises a run.
type Result struct {
	Steps       int     // optimizer steps taken
	Epochs      int     // epochs completed
	BestEpoch   int     // 1-based epoch of the best validation loss (0 without validation)
	BestStep    int     // step at which it was measured
	BestValLoss float64 // NaN without validation, or when none has run yet
	FirstLoss   float64 // training loss of the first step
	LastLoss    float64 // training loss of the last step
	Stopped     string  // why the run ended: StoppedEpochs, StoppedEarly, StoppedHook, StoppedCancelled, StoppedError
	Elapsed     time.Duration
}

// Trainer runs answer-only supervised fine-tuning of an adapter.
type Trainer struct {
	cfg   Config
	m     *model.Model
	a     *lora.Adapter
	e     *Engine
	train []Example
	val   []Example

	state state
	log   *metricsLog
	bar   *progress
	best  *snapshot
	start time.Time // when the run began, less the time before a resume
	// runStart and runFirst: when this Run call began and the steps done before it.
	runStart time.Time
	runFirst int
	onStep   func(step int) // test hook, called after every optimizer step and its checkpoint
	// gradsZero: the engine's gradients are clear (the last Update cleared them).
	gradsZero bool
}

// state is everything a checkpoint must restore for a bit-identical resume.
type state struct {
	Step        int     `json:"step"`          // optimizer steps done
	Epoch       int     `json:"epoch"`         // 0-based epoch in progress
	StepInEpoch int     `json:"step_in_epoch"` // steps of that epoch done
	EpochRNG    []byte  `json:"epoch_rng"`     // data-order generator at the start of the epoch
	DropoutRNG  []byte  `json:"dropout_rng"`
	BestVal     float64 `json:"best_val"`
	BestEpoch   int     `json:"best_epoch"`
	BestStep    int     `json:"best_step"`
	BadEvals    int     `json:"bad_evals"`
	FirstLoss   float64 `json:"first_loss"`
	LastLoss    float64 `json:"last_loss"`
	Elapsed     float64 `json:"elapsed_s"`
}

// New prepares a run of cfg on m with adapter a. val may be empty (no early stopping).
func New(m *model.Model, a *lora.Adapter, trainSet, valSet []Example, cfg Config) (*Trainer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(trainSet) == 0 {
		return nil, fmt.Errorf("train: empty training set")
	}
	v := m.Config.VocabSize
	if err := validateExamples("training", trainSet, v); err != nil {
		return nil, err
	}
	if err := validateExamples("validation", valSet, v); err != nil {
		return nil, err
	}
	if cfg.Pad < 0 || cfg.Pad >= v {
		return nil, fmt.Errorf("train: pad id %d outside the vocabulary [0,%d)", cfg.Pad, v)
	}
	e, err := NewEngine(m, a, cfg.Seed)
	if err != nil {
		return nil, err
	}
	e.Threads = cfg.Threads
	if err := e.planRun(trainSet, valSet, cfg); err != nil {
		return nil, err
	}
	t := &Trainer{cfg: cfg, m: m, a: a, e: e, train: trainSet, val: valSet}
	t.state.BestVal = math.Inf(1)
	epochRNG := rand.NewPCG(cfg.Seed, 0x65706f63)
	if t.state.EpochRNG, err = epochRNG.MarshalBinary(); err != nil {
		return nil, err
	}
	return t, nil
}

// StepsPerEpoch is the number of optimizer steps in one pass over the training set.
func (t *Trainer) StepsPerEpoch() int {
	per := t.cfg.BatchSize * t.cfg.Accum
	return (len(t.train) + per - 1) / per
}

// Run trains until the epochs are done, early stopping triggers or a hook returns ErrStop,
// then restores the best adapter (by validation loss) and, with Config.Dir, saves it there.
//
// Cancelling ctx stops at the next micro-batch: Run then returns a non-nil Result of the steps
// done (Stopped is StoppedCancelled) with an error for which errors.Is(err, context.Canceled)
// (or DeadlineExceeded) holds. Any other error after training began (a hook's, a NaN or
// infinite loss, a failed checkpoint) also comes with the partial Result, Stopped StoppedError;
// only a run that cannot start returns a nil Result. After such a stop the adapter holds the
// best validated weights when validation has run (Result.BestStep > 0), as at a normal end,
// and otherwise the weights of the last step taken (after an ErrNonFinite error these may be
// non-finite; nothing of that step reaches a checkpoint). Nothing is written to Config.Dir
// beyond the checkpoints already there: the last one is left intact, and Resume continues from
// it (calling Run again on the same Trainer is not a way to continue).
func (t *Trainer) Run(ctx context.Context) (*Result, error) {
	runStart := time.Now()
	t.start = runStart.Add(-time.Duration(t.state.Elapsed * float64(time.Second)))
	t.runStart, t.runFirst = runStart, t.state.Step
	if t.cfg.Dir != "" {
		lg, err := openMetrics(t.cfg.Dir)
		if err != nil {
			return nil, err
		}
		t.log = lg
		defer lg.Close()
	}
	spe := t.StepsPerEpoch()
	total := spe * t.cfg.Epochs
	t.bar = newProgress(t.cfg.Progress, total, t.state.Step)
	defer t.bar.done()
	stopped := StoppedEpochs
	for t.state.Epoch < t.cfg.Epochs {
		reason, err := t.runEpoch(ctx, total)
		if err != nil {
			stopped = StoppedError
			if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
				stopped = StoppedCancelled
			}
			t.RestoreBest()
			return t.result(stopped), err
		}
		if reason != "" {
			stopped = reason
			break
		}
	}
	t.RestoreBest()
	res := t.result(stopped)
	if t.cfg.Dir != "" {
		if err := t.a.Save(t.cfg.Dir); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// result summarises the run so far.
func (t *Trainer) result(stopped string) *Result {
	res := &Result{Steps: t.state.Step, Epochs: t.state.Epoch, BestEpoch: t.state.BestEpoch, BestStep: t.state.BestStep,
		BestValLoss: t.state.BestVal, FirstLoss: t.state.FirstLoss, LastLoss: t.state.LastLoss, Stopped: stopped,
		Elapsed: time.Since(t.start)}
	if len(t.val) == 0 || t.best == nil {
		res.BestValLoss = math.NaN()
	}
	return res
}

// RestoreBest copies the best validated adapter so far (by validation loss, restored by
// Resume too) into the adapter being trained and reports whether there was one. Run does this
// itself when it ends, whether it finished, was cancelled or failed; RestoreBest is for a
// caller that stops a run in between (from a hook) or wants the best after an error.
func (t *Trainer) RestoreBest() bool {
	if t.best == nil {
		return false
	}
	t.best.restore(t.a)
	return true
}

// sharing reports whether micro-batches run their shared prefixes once: asked for, and no
// dropout (AccumulateExamples).
func (t *Trainer) sharing() bool { return t.cfg.PrefixSharing && t.a.Config.Dropout == 0 }

// runEpoch continues the current epoch; it returns why the run stops (StoppedEarly,
// StoppedHook), or "" to go on.
func (t *Trainer) runEpoch(ctx context.Context, total int) (string, error) {
	var pcg rand.PCG
	if err := pcg.UnmarshalBinary(t.state.EpochRNG); err != nil {
		return "", fmt.Errorf("train: data-order generator state: %w", err)
	}
	rng := rand.New(&pcg)
	lens := func(i int) int { return t.train[i].Len() }
	var steps [][][]int
	if t.sharing() {
		steps = planShared(t.train, t.cfg.BatchSize, t.cfg.Accum, t.cfg.Bucket, rng)
	} else {
		steps = plan(len(t.train), t.cfg.BatchSize, t.cfg.Accum, t.cfg.Bucket, rng, lens)
	}
	for s := t.state.StepInEpoch; s < len(steps); s++ {
		m, err := t.step(ctx, steps[s], total)
		if err != nil {
			return "", err
		}
		t.state.StepInEpoch = s + 1
		last := s+1 == len(steps)
		if last { // the next epoch's order continues from this generator
			t.state.Epoch++
			t.state.StepInEpoch = 0
			if t.state.EpochRNG, err = pcg.MarshalBinary(); err != nil {
				return "", err
			}
		}
		stop := ""
		if t.cfg.OnStep != nil {
			if err := t.cfg.OnStep(m); errors.Is(err, ErrStop) {
				stop = StoppedHook
			} else if err != nil {
				return "", fmt.Errorf("train: OnStep at step %d: %w", m.Step, err)
			}
		}
		if len(t.val) > 0 && (last || t.cfg.EvalEvery > 0 && t.state.Step%t.cfg.EvalEvery == 0) {
			why, err := t.evaluate(ctx)
			if err != nil {
				return "", err
			}
			if stop == "" {
				stop = why
			}
		}
		if t.cfg.Dir != "" && (last || stop != "" || t.cfg.SaveEvery > 0 && t.state.Step%t.cfg.SaveEvery == 0) {
			if err := t.checkpoint(); err != nil {
				return "", err
			}
		}
		if t.onStep != nil {
			t.onStep(t.state.Step)
		}
		if stop != "" {
			return stop, nil
		}
	}
	return "", nil
}

// step accumulates the micro-batches of one optimizer step and applies AdamW.
func (t *Trainer) step(ctx context.Context, micro [][]int, total int) (StepMetrics, error) {
	stepStart := time.Now()
	count, examples := 0, 0
	for _, mb := range micro {
		examples += len(mb)
		for _, i := range mb {
			count += len(t.train[i].Answer)
		}
	}
	if !t.gradsZero { // the previous step's Update cleared them
		t.e.ZeroGrad()
	}
	t.gradsZero = false
	var lossSum float64
	tokens := 0
	for _, mb := range micro {
		xs := make([]Example, len(mb))
		for j, i := range mb {
			xs[j] = t.train[i]
		}
		sum, _, err := t.e.AccumulateExamples(ctx, xs, t.cfg.Pad, 1/float32(count), t.sharing())
		if err != nil {
			return StepMetrics{}, err
		}
		lossSum += sum
		for _, x := range xs {
			tokens += x.Len()
		}
	}
	loss := lossSum / float64(count)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return StepMetrics{}, t.nonFinite(fmt.Sprintf("loss is %v", loss))
	}
	lr := t.cfg.LRAt(t.state.Step, total)
	gnorm, err := t.e.Update(t.cfg.AdamW, lr, UpdateOptions{MaxGradNorm: t.cfg.MaxGradNorm, ZeroGrad: true})
	if err != nil {
		return StepMetrics{}, err
	}
	t.gradsZero = true
	// The NaN guard: the gradients (through their norm) and the updated weights must be finite,
	// or nothing of this step may reach a checkpoint or the final adapter.
	if math.IsNaN(gnorm) || math.IsInf(gnorm, 0) {
		return StepMetrics{}, t.nonFinite(fmt.Sprintf("gradient norm is %v", gnorm))
	}
	if where := nonFiniteAdapter(t.a); where != "" {
		return StepMetrics{}, t.nonFinite(where + " after the update (learning rate " + fmt.Sprint(lr) + ")")
	}
	t.state.Step++
	if t.state.Step == 1 {
		t.state.FirstLoss = loss
	}
	t.state.LastLoss = loss
	now := time.Now()
	elapsed := now.Sub(t.start)
	t.state.Elapsed = elapsed.Seconds()
	stepTime := now.Sub(stepStart)
	m := StepMetrics{Step: t.state.Step, Total: total, Epoch: float64(t.state.Epoch) + float64(t.state.StepInEpoch+1)/float64(t.StepsPerEpoch()),
		Loss: loss, LR: lr, GradNorm: gnorm, Examples: examples, Tokens: tokens, AnswerTokens: count,
		TokensPerSec: perSecond(float64(tokens), stepTime), StepTime: stepTime,
		StepsPerSec: perSecond(float64(t.state.Step-t.runFirst), now.Sub(t.runStart)), Elapsed: elapsed}
	t.bar.update(m)
	return m, t.log.write(record{Step: m.Step, Epoch: m.Epoch, Loss: &loss, LR: lr, GradNorm: gnorm, TokensPerSec: m.TokensPerSec,
		Elapsed: elapsed.Seconds()})
}

// perSecond is n per second of d, 0 for a duration too short to measure.
func perSecond(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// evaluate measures the validation loss, updates early stopping and calls OnEval; it returns
// why the run stops (StoppedEarly, StoppedHook), or "" to go on.
func (t *Trainer) evaluate(ctx context.Context) (string, error) {
	val, err := loss(ctx, t.m, t.a, t.val, t.cfg.BatchSize*t.cfg.Accum, t.cfg.Pad, t.cfg.Threads)
	if err != nil {
		return "", err
	}
	if math.IsNaN(val) || math.IsInf(val, 0) {
		return "", fmt.Errorf("train: validation loss is %v at step %d; stopped, the last checkpoint is kept", val, t.state.Step)
	}
	improved := val < t.state.BestVal-t.cfg.MinImprovement || math.IsInf(t.state.BestVal, 1)
	if improved {
		t.state.BestVal, t.state.BestEpoch, t.state.BestStep, t.state.BadEvals = val, t.state.Epoch, t.state.Step, 0
		if t.state.StepInEpoch != 0 {
			t.state.BestEpoch = t.state.Epoch + 1
		}
		t.best = takeSnapshot(t.a)
	} else {
		t.state.BadEvals++
	}
	t.bar.note(fmt.Sprintf("step %d: validation loss %.4f (best %.4f)", t.state.Step, val, t.state.BestVal))
	elapsed := time.Since(t.start)
	if err := t.log.write(record{Step: t.state.Step, Epoch: float64(t.state.Epoch), ValLoss: &val, Elapsed: elapsed.Seconds()}); err != nil {
		return "", err
	}
	stop := ""
	if t.cfg.Patience > 0 && t.state.BadEvals >= t.cfg.Patience {
		stop = StoppedEarly
	}
	if t.cfg.OnEval != nil {
		m := EvalMetrics{Step: t.state.Step, Epoch: float64(t.state.Epoch) + float64(t.state.StepInEpoch)/float64(t.StepsPerEpoch()),
			ValLoss: val, BestValLoss: t.state.BestVal, BestStep: t.state.BestStep, Improved: improved, BadEvals: t.state.BadEvals,
			Elapsed: elapsed}
		if err := t.cfg.OnEval(m); errors.Is(err, ErrStop) {
			if stop == "" {
				stop = StoppedHook
			}
		} else if err != nil {
			return "", fmt.Errorf("train: OnEval at step %d: %w", t.state.Step, err)
		}
	}
	return stop, nil
}

// Loss is the mean cross-entropy per answer token of xs under m with adapter a (nil: the
// base model), computed by the inference forward pass in batches of batch examples.
func Loss(ctx context.Context, m *model.Model, a *lora.Adapter, xs []Example, batch, pad int) (float64, error) {
	return loss(ctx, m, a, xs, batch, pad, 0)
}

// loss is Loss with the passes capped at threads goroutines (0: the model's cap).
func loss(ctx context.Context, m *model.Model, a *lora.Adapter, xs []Example, batch, pad, threads int) (float64, error) {
	var sum float64
	count := 0
	var ad model.Adapter
	if a != nil {
		ad = a
	}
	for lo := 0; lo < len(xs); lo += max(1, batch) {
		chunk := xs[lo:min(lo+max(1, batch), len(xs))]
		b, labels, err := Collate(chunk, pad)
		if err != nil {
			return 0, err
		}
		var rows []int
		var targets []int32
		for i := 0; i+1 < len(labels); i++ {
			if (i+1)%b.T != 0 && labels[i+1] != IgnoreIndex {
				rows = append(rows, i)
				targets = append(targets, labels[i+1])
			}
		}
		out, err := m.Forward(ctx, b, model.Options{Rows: rows, Adapter: ad, Threads: threads})
		if err != nil {
			return 0, err
		}
		s, c := kern.Threads(cmp.Or(threads, m.Threads())).CrossEntropy(nil, out.Logits, out.Vocab, targets, 1)
		sum += s
		count += c
	}
	if count == 0 {
		return 0, errors.New("train: no answer tokens to measure the loss on")
	}
	return sum / float64(count), nil
}

// snapshot is a copy of an adapter's matrices.
type snapshot struct{ a, b [][]float32 }

func takeSnapshot(a *lora.Adapter) *snapshot {
	s := &snapshot{}
	a.Each(func(_ int, _ model.Proj, p *lora.Pair) {
		s.a = append(s.a, append([]float32(nil), p.A...))
		s.b = append(s.b, append([]float32(nil), p.B...))
	})
	return s
}

func (s *snapshot) restore(a *lora.Adapter) {
	i := 0
	a.Each(func(_ int, _ model.Proj, p *lora.Pair) {
		copy(p.A, s.a[i])
		copy(p.B, s.b[i])
		i++
	})
}

// AnswerProbs is, for each example, the probability the model (with adapter a, or the base
// model when a is nil) gives its whole answer after its prompt: the product of the answer
// tokens' probabilities.
func AnswerProbs(ctx context.Context, m *model.Model, a *lora.Adapter, xs []Example, batch, pad int) ([]float64, error) {
	var ad model.Adapter
	if a != nil {
		ad = a
	}
	out := make([]float64, 0, len(xs))
	batch = max(1, batch)
	for lo := 0; lo < len(xs); lo += batch {
		chunk := xs[lo:min(lo+batch, len(xs))]
		b, labels, err := Collate(chunk, pad)
		if err != nil {
			return nil, err
		}
		var rows []int
		for i := 0; i+1 < len(labels); i++ {
			if (i+1)%b.T != 0 && labels[i+1] != IgnoreIndex {
				rows = append(rows, i)
			}
		}
		res, err := m.Forward(ctx, b, model.Options{Rows: rows, Adapter: ad})
		if err != nil {
			return nil, err
		}
		k := 0
		for _, x := range chunk {
			lp := 0.0
			for _, id := range x.Answer {
				lp += kern.LogSoftmaxAt(res.Row(k), id)
				k++
			}
			out = append(out, math.Exp(lp))
		}
	}
	return out, nil
}

// ErrNonFinite is wrapped by the error a run stops with when a loss, a gradient or an updated
// weight is NaN or infinite.
var ErrNonFinite = errors.New("non-finite value")

// nonFinite is the error that stops a run at the current step: it names the step and the last
// good checkpoint (nothing of this step has been or will be written).
func (t *Trainer) nonFinite(what string) error {
	kept := "no checkpoint has been written"
	if t.cfg.Dir != "" {
		if name, err := latestCheckpoint(t.cfg.Dir); err == nil {
			kept = "the last good checkpoint is " + filepath.Join(t.cfg.Dir, checkpointsDir, name)
		}
	}
	return fmt.Errorf("train: %w: %s at step %d (epoch %d); stopped, %s", ErrNonFinite, what, t.state.Step+1, t.state.Epoch+1, kept)
}

// nonFiniteAdapter names the first adapter matrix holding a NaN or infinity, or returns "".
func nonFiniteAdapter(a *lora.Adapter) string {
	// One parallel pass: a float64 sum of float32 squares is finite iff every element is.
	var all [][]float32
	a.Each(func(_ int, _ model.Proj, pr *lora.Pair) { all = append(all, pr.A, pr.B) })
	if s := kern.SumSquares(all); !math.IsNaN(s) && !math.IsInf(s, 0) {
		return ""
	}
	where := ""
	a.Each(func(l int, p model.Proj, pr *lora.Pair) {
		if where != "" {
			return
		}
		for _, m := range []struct {
			n string
			v []float32
		}{{"A", pr.A}, {"B", pr.B}} {
			for i, x := range m.v {
				if x-x != 0 {
					where = fmt.Sprintf("layer %d %s lora_%s holds %v at index %d", l, p, m.n, x, i)
					return
				}
			}
		}
	})
	return where
}
