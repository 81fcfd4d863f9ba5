package train

// The metrics log of a run directory (MetricsFile): one line per step and per validation,
// trimmed to the checkpoint a run resumes from.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/valora-go/valora/internal/atomicfile"
)

// MetricsFile is the name of the JSONL log in a run directory: one object per optimizer step
// (step, epoch, loss, lr, grad_norm, tokens_per_s, elapsed_s) and one per validation
// (step, epoch, val_loss, elapsed_s).
const MetricsFile = "metrics.jsonl"

// record is one line of MetricsFile: the fields of StepMetrics or EvalMetrics, durations in
// seconds.
type record struct {
	Step         int      `json:"step"`                   // optimizer steps done
	Epoch        float64  `json:"epoch"`                  // epochs done, fractional
	Loss         *float64 `json:"loss,omitempty"`         // a step: mean cross-entropy per answer token
	ValLoss      *float64 `json:"val_loss,omitempty"`     // a validation: the same over the validation set
	LR           float64  `json:"lr,omitempty"`           // the step's learning rate
	GradNorm     float64  `json:"grad_norm,omitempty"`    // global gradient norm, before clipping
	TokensPerSec float64  `json:"tokens_per_s,omitempty"` // prompt and answer tokens per second of the step
	Elapsed      float64  `json:"elapsed_s"`              // wall time of the run, before a resume included
}

type metricsLog struct{ f *os.File }

func openMetrics(dir string) (*metricsLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	// O_NOFOLLOW: a link planted at metrics.jsonl is an error, never appended to through.
	f, err := os.OpenFile(filepath.Join(dir, MetricsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY|noFollow|noBlock, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("train: %s is not a regular file", filepath.Join(dir, MetricsFile))
	}
	return &metricsLog{f}, nil
}

// write appends one line; a nil log discards it.
func (l *metricsLog) write(r record) error {
	if l == nil {
		return nil
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := l.f.Write(append(raw, '\n')); err != nil {
		return fmt.Errorf("train: write %s: %w", l.f.Name(), err)
	}
	return nil
}

func (l *metricsLog) Close() error { return l.f.Close() }

// trimMetrics drops the log lines of steps after step (written after the checkpoint a run
// resumes from), so the resumed run's lines follow without duplicates.
func trimMetrics(dir string, step int) error {
	path := filepath.Join(dir, MetricsFile)
	raw, err := readSmall(path, 1<<30)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var keep bytes.Buffer
	for _, line := range bytes.Split(raw, []byte("\n")) {
		var r record
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &r) != nil || r.Step > step {
			continue
		}
		keep.Write(line)
		keep.WriteByte('\n')
	}
	return atomicfile.WriteFile(path, keep.Bytes())
}
