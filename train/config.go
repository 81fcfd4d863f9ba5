// The training configuration: Config, its defaults and validation, and the learning-rate
// schedule.

package train

import (
	"fmt"
	"io"
	"math"
)

// Schedule is the learning rate after the warm-up. Its values are the strings "constant" and
// "linear" that presets, flags and JSON files hold; it implements flag.Value.
type Schedule string

// The schedules (transformers' lr_scheduler_type of the same names).
const (
	ScheduleConstant Schedule = "constant" // the peak learning rate until the end
	ScheduleLinear   Schedule = "linear"   // linear decay to 0 at the last step
)

func (s Schedule) valid() bool { return s == ScheduleConstant || s == ScheduleLinear }

// String returns the schedule's name.
func (s Schedule) String() string { return string(s) }

// Set sets the schedule from a flag value; Config.validate rejects names other than the
// schedules'.
func (s *Schedule) Set(v string) error { *s = Schedule(v); return nil }

// Config controls a training run. Start from DefaultConfig, the protocol's settings.
type Config struct {
	LR          float64  // peak learning rate
	WarmupRatio float64  // fraction of all steps with a linear warm-up from 0
	Schedule    Schedule // after warm-up: ScheduleConstant or ScheduleLinear (decay to 0 at the last step)
	Epochs      int      // passes over the training set
	BatchSize   int      // examples per micro-batch
	Accum       int      // micro-batches per optimizer step (effective batch = BatchSize·Accum)
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
	return Config{LR: 1e-4, WarmupRatio: 0.15, Schedule: ScheduleConstant, Epochs: 10, BatchSize: 4, Accum: 4,
		AdamW: DefaultAdamW(), Patience: 2, MinImprovement: 0.01, Bucket: true, PrefixSharing: true}
}

func (c *Config) validate() error {
	switch {
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("train: learning rate %v, want > 0", c.LR)
	case !(c.WarmupRatio >= 0 && c.WarmupRatio <= 1):
		return fmt.Errorf("train: warm-up ratio %v, want in [0,1]", c.WarmupRatio)
	case !c.Schedule.valid():
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
	if c.Schedule == ScheduleLinear {
		return c.LR * max(0, float64(total-s)/float64(max(1, total-warm)))
	}
	return c.LR
}
