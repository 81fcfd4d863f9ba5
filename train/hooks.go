package train

import (
	"errors"
	"time"
)

// StepMetrics describes one optimizer step, as Config.OnStep receives it. The same values go
// to the metrics log (MetricsFile) and the progress writer.
type StepMetrics struct {
	Step         int           // optimizer steps done, this one included (1-based)
	Total        int           // steps of the whole run, StepsPerEpoch × Epochs (early stopping may end it sooner)
	Epoch        float64       // epochs done, fractional: 1.5 is half-way through the second
	Loss         float64       // mean cross-entropy per answer token of the step's examples
	LR           float64       // learning rate the step used
	GradNorm     float64       // global gradient norm, before clipping
	Examples     int           // examples in the step (BatchSize × Accum, fewer at the end of an epoch)
	Tokens       int           // their tokens, prompts and answers
	AnswerTokens int           // their answer tokens (those the loss is over)
	TokensPerSec float64       // Tokens per second of StepTime
	StepTime     time.Duration // wall time of the step
	// StepsPerSec is the rate of this Run call: its steps over the time since it began (a
	// resumed run counts from where it resumed).
	StepsPerSec float64
	Elapsed     time.Duration // wall time of the run, the time before a resume included
}

// EvalMetrics describes one validation, as Config.OnEval receives it.
type EvalMetrics struct {
	Step        int     // optimizer steps done when it was measured
	Epoch       float64 // epochs done, fractional
	ValLoss     float64 // mean cross-entropy per answer token of the validation set
	BestValLoss float64 // the best validation loss so far, this one included
	BestStep    int     // the step it was measured at
	// Improved: this validation is the new best (lower than the best before it by at least
	// Config.MinImprovement, or the first).
	Improved bool
	// BadEvals is the number of validations since the best; early stopping ends the run when
	// it reaches Config.Patience.
	BadEvals int
	Elapsed  time.Duration // wall time of the run, the time before a resume included
}

// ErrStop, returned by Config.OnStep or Config.OnEval (or wrapped in what they return), ends
// the run as early stopping does: the step's validation, if due, and its checkpoint are still
// done, the best adapter is restored and saved, and Run returns no error, with
// Result.Stopped "hook".
var ErrStop = errors.New("train: stop requested by a hook")

// Stop reasons, Result.Stopped.
const (
	StoppedEpochs    = "epochs"         // all epochs done
	StoppedEarly     = "early stopping" // Patience validations without improvement
	StoppedHook      = "hook"           // OnStep or OnEval returned ErrStop
	StoppedCancelled = "cancelled"      // the context was cancelled
	StoppedError     = "error"          // an error ended the run (a hook's, a non-finite loss, I/O)
)
