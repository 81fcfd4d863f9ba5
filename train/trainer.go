package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

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
	if where := nonFiniteAdapter(t.a, t.e.threads()); where != "" {
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
func nonFiniteAdapter(a *lora.Adapter, th kern.Threads) string {
	// One parallel pass: a float64 sum of float32 squares is finite iff every element is.
	var all [][]float32
	a.Each(func(_ int, _ model.Proj, pr *lora.Pair) { all = append(all, pr.A, pr.B) })
	if s := th.SumSquares(all); !math.IsNaN(s) && !math.IsInf(s, 0) {
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
