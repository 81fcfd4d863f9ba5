// Validation and adapter snapshots: the validation loss that early stopping watches (Loss),
// the best adapter's snapshot restored at the end, and per-example answer probabilities.

package train

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

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
	for lo := 0; lo < len(xs); lo += max(1, batch) {
		chunk := xs[lo:min(lo+max(1, batch), len(xs))]
		b, labels, err := Collate(chunk, pad)
		if err != nil {
			return 0, err
		}
		rows, targets := labelRows(labels, b.T, nil, nil)
		out, err := m.Forward(ctx, b, model.Options{Rows: rows, Adapter: a, Threads: threads})
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
	out := make([]float64, 0, len(xs))
	batch = max(1, batch)
	for lo := 0; lo < len(xs); lo += batch {
		chunk := xs[lo:min(lo+batch, len(xs))]
		b, labels, err := Collate(chunk, pad)
		if err != nil {
			return nil, err
		}
		rows, _ := labelRows(labels, b.T, nil, nil)
		res, err := m.Forward(ctx, b, model.Options{Rows: rows, Adapter: a})
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
