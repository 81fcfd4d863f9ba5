package train

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// TestHugeLRNeverCheckpointsNonFinite: with a learning rate that overflows the weights, the run
// stops with an error naming the step and the last good checkpoint, and every checkpoint on disk
// holds finite numbers only.
func TestHugeLRNeverCheckpointsNonFinite(t *testing.T) {
	m := stories(t)
	dir := t.TempDir()
	cfg := runConfig(dir)
	cfg.LR, cfg.WarmupRatio = 3e38, 0
	tr, err := New(m, smallAdapter(t, m, 0), synthetic(16, 2), nil, cfg)
	require.NoError(t, err)
	_, err = tr.Run(context.Background())
	require.ErrorIs(t, err, ErrNonFinite)
	require.ErrorContains(t, err, "at step ")
	if name, lerr := latestCheckpoint(dir); lerr == nil {
		require.ErrorContains(t, err, "the last good checkpoint is "+filepath.Join(dir, "checkpoints", name))
	} else {
		require.ErrorContains(t, err, "no checkpoint has been written")
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "checkpoints"))
	for _, e := range ents {
		if e.IsDir() {
			_, err := lora.Load(filepath.Join(dir, "checkpoints", e.Name()), m) // refuses non-finite values
			require.NoError(t, err, e.Name())
		}
	}
	_, err = os.Stat(filepath.Join(dir, lora.WeightsFile))
	require.ErrorIs(t, err, os.ErrNotExist, "no final adapter is written")
}

// TestCheckpointRefusesNonFinite: the checkpoint writer itself refuses a poisoned adapter.
func TestCheckpointRefusesNonFinite(t *testing.T) {
	m := stories(t)
	dir := t.TempDir()
	a := smallAdapter(t, m, 0)
	tr, err := New(m, a, synthetic(16, 2), nil, runConfig(dir))
	require.NoError(t, err)
	a.Pair(1, model.ProjV).A[2] = float32(math.Inf(1))
	err = tr.checkpoint()
	require.ErrorIs(t, err, ErrNonFinite)
	require.ErrorContains(t, err, "layer 1 v_proj lora_A holds +Inf at index 2; nothing written")
	_, err = os.Stat(filepath.Join(dir, "checkpoints", "LATEST"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// cancelAfter runs tr and cancels it once it has finished step, and checks that the run
// stopped for that.
func cancelAfter(t *testing.T, tr *Trainer, step int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr.onStep = func(s int) {
		if s == step {
			cancel()
		}
	}
	_, err := tr.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

// interruptedRun trains 2 steps of 4 with checkpoints and returns the run directory.
func interruptedRun(t *testing.T, m *model.Model) string {
	dir := t.TempDir()
	tr, err := New(m, smallAdapter(t, m, 0), synthetic(16, 2), nil, runConfig(dir))
	require.NoError(t, err)
	cancelAfter(t, tr, 2)
	return dir
}

// TestResumeValidatesCheckpoint: trainer_state.json fields out of range, a LATEST that is not a
// checkpoint name under the run directory, and planted links are errors, never panics or reads
// from elsewhere; interrupted temporary directories are swept.
func TestResumeValidatesCheckpoint(t *testing.T) {
	m := stories(t)
	base := interruptedRun(t, m)
	ck := filepath.Join("checkpoints", "step-00000002")
	editState := func(field string, v any) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, ck, stateFile)
			raw, err := os.ReadFile(p)
			require.NoError(t, err)
			var st map[string]any
			require.NoError(t, json.Unmarshal(raw, &st))
			st[field] = v
			raw, _ = json.Marshal(st)
			require.NoError(t, os.WriteFile(p, raw, 0o644))
		}
	}
	editTensors := func(file string, meta map[string]string, edit func(map[string]model.Tensor)) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, ck, file)
			ts, err := model.ReadTensors(p)
			require.NoError(t, err)
			edit(ts)
			require.NoError(t, model.WriteTensors(p, ts, meta))
		}
	}
	outside := t.TempDir()
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"step_in_epoch -1", editState("step_in_epoch", -1), "field step_in_epoch: -1"},
		{"step_in_epoch past the epoch", editState("step_in_epoch", 99), "field step_in_epoch: 99"},
		{"epoch 1e6", editState("epoch", 1000000), "field epoch: 1000000"},
		{"epoch -3", editState("epoch", -3), "field epoch: -3"},
		{"step inconsistent", editState("step", 77), "field step: 77"},
		{"best_step beyond", editState("best_step", 1000), "field best_step"},
		{"bad_evals negative", editState("bad_evals", -5), "field bad_evals"},
		{"elapsed negative", editState("elapsed_s", -1), "field elapsed_s"},
		{"epoch_rng garbage", editState("epoch_rng", "AAAA"), "epoch_rng"},
		{"dropout_rng garbage", editState("dropout_rng", "AAAA"), "dropout generator"},
		{"LATEST escapes", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "checkpoints", "LATEST"), []byte("../../x\n"), 0o644))
		}, `"../../x" is not a checkpoint name`},
		{"LATEST absolute", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "checkpoints", "LATEST"), []byte(outside+"\n"), 0o644))
		}, "is not a checkpoint name"},
		{"LATEST names a link", func(t *testing.T, dir string) {
			require.NoError(t, os.Symlink(outside, filepath.Join(dir, "checkpoints", "step-00000009")))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "checkpoints", "LATEST"), []byte("step-00000009\n"), 0o644))
		}, "not a directory"},
		{"LATEST is a link", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "checkpoints", "LATEST")
			require.NoError(t, os.Remove(p))
			require.NoError(t, os.Symlink(filepath.Join(outside, "L"), p))
		}, "LATEST"},
		{"LATEST huge", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "checkpoints", "LATEST"), []byte(strings.Repeat("step-", 1000)), 0o644))
		}, "over the limit of 256"},
		{"optimizer state NaN", editTensors(optimizerFile, nil, func(ts map[string]model.Tensor) {
			ts["0.vA"].F32[0] = float32(math.NaN())
		}), "optimizer state 0.vA holds NaN"},
		{"adapter NaN", editTensors(lora.WeightsFile, map[string]string{"format": "pt"}, func(ts map[string]model.Tensor) {
			for _, v := range ts {
				v.F32[0] = float32(math.Inf(-1))
				break
			}
		}), "non-finite"},
		{"metrics.jsonl is a link", func(t *testing.T, dir string) {
			p := filepath.Join(dir, MetricsFile)
			require.NoError(t, os.Remove(p))
			require.NoError(t, os.Symlink(filepath.Join(outside, "target"), p))
		}, "metrics.jsonl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.CopyFS(dir, os.DirFS(base)))
			c.setup(t, dir)
			tr, err := Resume(m, smallAdapter(t, m, 0), synthetic(16, 2), nil, runConfig(dir))
			if err == nil {
				_, err = tr.Run(context.Background())
			}
			require.Error(t, err)
			require.ErrorContains(t, err, c.want)
			_, serr := os.Stat(filepath.Join(outside, "target"))
			require.ErrorIs(t, serr, os.ErrNotExist, "nothing is written through a link")
		})
	}
	t.Run("stale temporary directories are swept", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.CopyFS(dir, os.DirFS(base)))
		stale := filepath.Join(dir, "checkpoints", ".step-00000003.tmp-123456")
		require.NoError(t, os.MkdirAll(stale, 0o755))
		tr, err := Resume(m, smallAdapter(t, m, 0), synthetic(16, 2), nil, runConfig(dir))
		require.NoError(t, err)
		_, err = os.Stat(stale)
		require.ErrorIs(t, err, os.ErrNotExist)
		_, err = tr.Run(context.Background())
		require.NoError(t, err)
	})
}
