package train

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// readRecords parses a run directory's metrics log into its step and validation lines.
func readRecords(t *testing.T, dir string) (steps, vals []record) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, MetricsFile))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		if r.Loss != nil {
			steps = append(steps, r)
		} else {
			vals = append(vals, r)
		}
	}
	require.NoError(t, sc.Err())
	return steps, vals
}

// diverging is a training set and a validation set whose loss gets worse as the training set
// is fitted (its answers are ones the model is not trained on): the best validation is the
// first, and later ones are not improvements.
func diverging() (trainSet, valSet []Example) {
	trainSet, valSet = synthetic(8, 4), synthetic(8, 5)
	for i := range valSet {
		valSet[i].Answer = []int{400}
	}
	return trainSet, valSet
}

func snapshotEqual(t *testing.T, a *lora.Adapter, s *snapshot) {
	t.Helper()
	i := 0
	a.Each(func(l int, p model.Proj, pr *lora.Pair) {
		require.Equal(t, s.a[i], pr.A, "layer %d %s A", l, p)
		require.Equal(t, s.b[i], pr.B, "layer %d %s B", l, p)
		i++
	})
}

// OnStep sees every optimizer step and OnEval every validation, with the values the metrics
// log records and the bookkeeping (epochs, examples, tokens, best so far) of the run.
func TestHooksReportStepsAndValidations(t *testing.T) {
	m := stories(t)
	dir := t.TempDir()
	trainSet, valSet := synthetic(16, 2), synthetic(6, 3)
	cfg := runConfig(dir)
	cfg.Epochs, cfg.EvalEvery, cfg.MinImprovement = 3, 1, 0
	var steps []StepMetrics
	var evals []EvalMetrics
	cfg.OnStep = func(m StepMetrics) error { steps = append(steps, m); return nil }
	cfg.OnEval = func(m EvalMetrics) error { evals = append(evals, m); return nil }
	tr, err := New(m, smallAdapter(t, m, 0), trainSet, valSet, cfg)
	require.NoError(t, err)
	res, err := tr.Run(context.Background())
	require.NoError(t, err)
	spe, total := tr.StepsPerEpoch(), tr.StepsPerEpoch()*cfg.Epochs

	logged, loggedVals := readRecords(t, dir)
	require.Len(t, steps, res.Steps)
	require.Len(t, logged, res.Steps)
	epochs, answerTokens, tokens := 0, 0, 0
	for _, x := range trainSet {
		answerTokens += len(x.Answer)
		tokens += x.Len()
	}
	var epochExamples, epochAnswers, epochTokens int
	for i, s := range steps {
		require.Equal(t, i+1, s.Step)
		require.Equal(t, total, s.Total)
		require.InDelta(t, float64(i+1)/float64(spe), s.Epoch, 1e-12)
		require.Equal(t, *logged[i].Loss, s.Loss)
		require.Equal(t, logged[i].LR, s.LR)
		require.Equal(t, cfg.LRAt(i, total), s.LR)
		require.Equal(t, logged[i].GradNorm, s.GradNorm)
		require.Positive(t, s.GradNorm)
		require.Positive(t, s.TokensPerSec)
		require.Positive(t, s.StepsPerSec)
		// The rate is over this run's steps and the time since it began.
		require.InDelta(t, float64(s.Step), s.StepsPerSec*s.Elapsed.Seconds(), 1e-6*float64(s.Step))
		require.LessOrEqual(t, s.StepTime, s.Elapsed)
		if i > 0 {
			require.Greater(t, s.Elapsed, steps[i-1].Elapsed)
		}
		epochExamples += s.Examples
		epochAnswers += s.AnswerTokens
		epochTokens += s.Tokens
		if s.Step%spe == 0 { // every example once per epoch
			require.Equal(t, len(trainSet), epochExamples)
			require.Equal(t, answerTokens, epochAnswers)
			require.Equal(t, tokens, epochTokens)
			epochExamples, epochAnswers, epochTokens = 0, 0, 0
			epochs++
		}
	}
	require.Equal(t, cfg.Epochs, epochs)
	require.Equal(t, res.FirstLoss, steps[0].Loss)
	require.Equal(t, res.LastLoss, steps[len(steps)-1].Loss)

	require.Len(t, evals, res.Steps, "EvalEvery 1: one validation per step")
	require.Len(t, loggedVals, len(evals))
	best, bestStep, bad := math.Inf(1), 0, 0
	for i, e := range evals {
		require.Equal(t, i+1, e.Step)
		require.InDelta(t, float64(i+1)/float64(spe), e.Epoch, 1e-12)
		require.Equal(t, *loggedVals[i].ValLoss, e.ValLoss)
		improved := e.ValLoss < best
		if improved {
			best, bestStep, bad = e.ValLoss, e.Step, 0
		} else {
			bad++
		}
		require.Equal(t, improved, e.Improved, "validation %d", i+1)
		require.Equal(t, best, e.BestValLoss)
		require.Equal(t, bestStep, e.BestStep)
		require.Equal(t, bad, e.BadEvals)
	}
	require.Equal(t, best, res.BestValLoss)
	require.Equal(t, bestStep, res.BestStep)
}

// Cancelling a run returns the Result of the steps done with context.Canceled, leaves the
// adapter at the best validated weights (not the last), and writes no final adapter; without
// validation the adapter holds the weights of the last step taken.
func TestCancelReturnsPartialResultAndBestAdapter(t *testing.T) {
	m := stories(t)
	trainSet, valSet := diverging()
	for _, tc := range []struct {
		name string
		val  []Example
	}{{"with validation", valSet}, {"without validation", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a := smallAdapter(t, m, 0)
			cfg := runConfig(dir)
			cfg.Epochs, cfg.LR, cfg.EvalEvery, cfg.BatchSize, cfg.Accum = 10, 0.05, 1, 4, 1
			tr, err := New(m, a, trainSet, tc.val, cfg)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var atCancel *snapshot
			lastLoss := math.NaN()
			tr.onStep = func(step int) {
				if step == 4 {
					atCancel = takeSnapshot(a)
					if tc.val != nil {
						var err error
						lastLoss, err = Loss(context.Background(), m, a, tc.val, 8, 0)
						require.NoError(t, err)
					}
					cancel()
				}
			}
			res, err := tr.Run(ctx)
			require.ErrorIs(t, err, context.Canceled)
			require.NotNil(t, res, "a cancelled run returns its partial result")
			require.Equal(t, 4, res.Steps)
			require.Equal(t, 2, res.Epochs)
			require.Equal(t, StoppedCancelled, res.Stopped)
			require.False(t, math.IsNaN(res.FirstLoss) || math.IsNaN(res.LastLoss))
			_, err = os.Stat(filepath.Join(dir, lora.WeightsFile))
			require.ErrorIs(t, err, os.ErrNotExist, "no final adapter is written for a cancelled run")
			if tc.val == nil {
				require.Zero(t, res.BestStep)
				require.True(t, math.IsNaN(res.BestValLoss))
				require.False(t, tr.RestoreBest())
				snapshotEqual(t, a, atCancel)
				return
			}
			require.Positive(t, res.BestStep)
			require.Less(t, res.BestStep, res.Steps, "validation gets worse once training fits the training answers")
			got, err := Loss(context.Background(), m, a, tc.val, 8, 0)
			require.NoError(t, err)
			require.InDelta(t, res.BestValLoss, got, 1e-5, "the best adapter is restored")
			require.Greater(t, lastLoss, got+1e-3, "the last weights are not the best")
		})
	}
}

// A hook's ErrStop ends the run cleanly (checkpoint, best adapter, final save, no error);
// another error stops it at once and comes back wrapped with the partial Result.
func TestHookStops(t *testing.T) {
	m := stories(t)
	trainSet, valSet := diverging()
	errHook := errors.New("enough")
	for _, tc := range []struct {
		name        string
		onStep      func(StepMetrics) error
		onEval      func(EvalMetrics) error
		wantErr     error
		wantStopped string
		wantSteps   int
		wantSaved   bool
	}{
		{name: "OnStep ErrStop", onStep: func(m StepMetrics) error {
			if m.Step == 3 {
				return ErrStop
			}
			return nil
		}, wantStopped: StoppedHook, wantSteps: 3, wantSaved: true},
		{name: "OnEval wrapped ErrStop", onEval: func(m EvalMetrics) error {
			if m.Step == 2 {
				return errors.Join(errHook, ErrStop)
			}
			return nil
		}, wantStopped: StoppedHook, wantSteps: 2, wantSaved: true},
		{name: "OnStep error", onStep: func(m StepMetrics) error {
			if m.Step == 3 {
				return errHook
			}
			return nil
		}, wantErr: errHook, wantStopped: StoppedError, wantSteps: 3},
		{name: "OnEval error", onEval: func(m EvalMetrics) error {
			if m.Step == 5 {
				return errHook
			}
			return nil
		}, wantErr: errHook, wantStopped: StoppedError, wantSteps: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a := smallAdapter(t, m, 0)
			cfg := runConfig(dir)
			cfg.Epochs, cfg.LR, cfg.EvalEvery, cfg.BatchSize, cfg.Accum, cfg.SaveEvery = 10, 0.05, 1, 4, 1, 0
			cfg.OnStep, cfg.OnEval = tc.onStep, tc.onEval
			tr, err := New(m, a, trainSet, valSet, cfg)
			require.NoError(t, err)
			res, err := tr.Run(context.Background())
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.NotNil(t, res)
			require.Equal(t, tc.wantStopped, res.Stopped)
			require.Equal(t, tc.wantSteps, res.Steps)
			got, err := Loss(context.Background(), m, a, valSet, 8, 0)
			require.NoError(t, err)
			require.InDelta(t, res.BestValLoss, got, 1e-5, "the best adapter is restored")
			_, err = os.Stat(filepath.Join(dir, lora.WeightsFile))
			require.Equal(t, tc.wantSaved, err == nil, "final adapter written: %v", err)
			if tc.wantSaved {
				latest, err := latestCheckpoint(dir)
				require.NoError(t, err)
				require.Equal(t, "step-0000000"+strconv.Itoa(tc.wantSteps), latest, "a clean stop checkpoints its last step")
			}
		})
	}
}
