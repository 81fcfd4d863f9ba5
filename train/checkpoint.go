package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/valora-go/valora/internal/stfile"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// A run directory holds the final adapter (PEFT files), metrics.jsonl, and checkpoints/:
// one directory per checkpoint (step-NNNNNNNN: the adapter, optimizer.safetensors,
// trainer_state.json and, once validation has run, best/ with the best adapter so far) and
// the file LATEST naming the newest complete one. A checkpoint is written under a temporary
// name, synced and renamed; LATEST is replaced atomically after that; older checkpoints are
// removed last. A crash at any point leaves LATEST naming a complete checkpoint.

const (
	checkpointsDir = "checkpoints"
	latestFile     = "LATEST"
	optimizerFile  = "optimizer.safetensors"
	stateFile      = "trainer_state.json"
	bestDir        = "best"
)

// checkpoint writes the run's state as the newest checkpoint.
func (t *Trainer) checkpoint() error {
	root := filepath.Join(t.cfg.Dir, checkpointsDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	name := fmt.Sprintf("step-%08d", t.state.Step)
	tmp, err := os.MkdirTemp(root, "."+name+".tmp-")
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	fail := func(err error) error {
		os.RemoveAll(tmp)
		return fmt.Errorf("train: checkpoint %s: %w", name, err)
	}
	if err := t.a.Save(tmp); err != nil {
		return fail(err)
	}
	if t.best != nil {
		cur := takeSnapshot(t.a)
		t.best.restore(t.a)
		err := t.a.Save(filepath.Join(tmp, bestDir))
		cur.restore(t.a)
		if err != nil {
			return fail(err)
		}
	}
	var entries []stfile.Entry
	for i, p := range t.e.params {
		if p.mA == nil {
			break
		}
		for _, s := range []struct {
			k string
			v []float32
		}{{"mA", p.mA}, {"vA", p.vA}, {"mB", p.mB}, {"vB", p.vB}} {
			entries = append(entries, stfile.Entry{Name: fmt.Sprintf("%d.%s", i, s.k), Shape: []int{len(s.v)}, F32: s.v})
		}
	}
	if err := stfile.Write(filepath.Join(tmp, optimizerFile), entries, map[string]string{"optimizer_step": fmt.Sprint(t.e.step)}); err != nil {
		return fail(err)
	}
	st := t.state
	if st.DropoutRNG, err = t.e.pcg.MarshalBinary(); err != nil {
		return fail(err)
	}
	if math.IsInf(st.BestVal, 1) {
		st.BestVal = -1 // JSON has no infinity; -1 means "none yet"
	}
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fail(err)
	}
	if err := stfile.WriteFile(filepath.Join(tmp, stateFile), raw); err != nil {
		return fail(err)
	}
	final := filepath.Join(root, name)
	os.RemoveAll(final) // a leftover of an interrupted earlier attempt at the same step
	if err := os.Rename(tmp, final); err != nil {
		return fail(err)
	}
	if err := syncDir(root); err != nil {
		return fail(err)
	}
	if err := stfile.WriteFile(filepath.Join(root, latestFile), []byte(name+"\n")); err != nil {
		return fmt.Errorf("train: checkpoint %s: %w", name, err)
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if e.IsDir() && e.Name() != name && strings.HasPrefix(e.Name(), "step-") {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Resume prepares a Trainer like New, then restores the newest checkpoint under cfg.Dir:
// the adapter's matrices (into a), the optimizer state, the data order, the dropout generator,
// the early-stopping state and the best adapter so far. Run then continues exactly where the
// checkpointed run was: with the same data and seed the result is bit-identical to a run that
// was never interrupted. Without a checkpoint it is an error wrapping os.ErrNotExist.
func Resume(m *model.Model, a *lora.Adapter, trainSet, valSet []Example, cfg Config) (*Trainer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("train: resume needs Config.Dir")
	}
	t, err := New(m, a, trainSet, valSet, cfg)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(cfg.Dir, checkpointsDir)
	latest, err := os.ReadFile(filepath.Join(root, latestFile))
	if err != nil {
		return nil, fmt.Errorf("train: resume: %w", err)
	}
	dir := filepath.Join(root, strings.TrimSpace(string(latest)))
	fail := func(err error) (*Trainer, error) { return nil, fmt.Errorf("train: resume from %s: %w", dir, err) }
	saved, err := lora.Load(dir, m)
	if err != nil {
		return fail(err)
	}
	if err := copyPairs(a, saved); err != nil {
		return fail(err)
	}
	if _, err := os.Stat(filepath.Join(dir, bestDir, lora.ConfigFile)); err == nil {
		best, err := lora.Load(filepath.Join(dir, bestDir), m)
		if err != nil {
			return fail(err)
		}
		t.best = takeSnapshot(best)
	}
	raw, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return fail(err)
	}
	if err := json.Unmarshal(raw, &t.state); err != nil {
		return fail(fmt.Errorf("%s: %w", stateFile, err))
	}
	if t.state.BestVal < 0 {
		t.state.BestVal = math.Inf(1)
	}
	if err := t.e.pcg.UnmarshalBinary(t.state.DropoutRNG); err != nil {
		return fail(fmt.Errorf("dropout generator: %w", err))
	}
	opt, err := stfile.Open(filepath.Join(dir, optimizerFile))
	if err != nil {
		return fail(err)
	}
	defer opt.Close()
	if len(opt.Names()) > 0 {
		for i, p := range t.e.params {
			p.mA, p.vA = make([]float32, len(p.gradA)), make([]float32, len(p.gradA))
			p.mB, p.vB = make([]float32, len(p.gradB)), make([]float32, len(p.gradB))
			for _, s := range []struct {
				k string
				v []float32
			}{{"mA", p.mA}, {"vA", p.vA}, {"mB", p.mB}, {"vB", p.vB}} {
				ts, ok := opt.Tensor(fmt.Sprintf("%d.%s", i, s.k))
				if !ok || ts.Len() != len(s.v) {
					return fail(fmt.Errorf("%s: optimizer state %d.%s missing or of the wrong size (does the adapter match?)", optimizerFile, i, s.k))
				}
				v, err := ts.Float32()
				if err != nil {
					return fail(err)
				}
				copy(s.v, v)
			}
		}
	}
	t.e.step = t.state.Step
	if err := trimMetrics(cfg.Dir, t.state.Step); err != nil {
		return fail(err)
	}
	return t, nil
}

// copyPairs copies the matrices of src into dst; both must have the same layout.
func copyPairs(dst, src *lora.Adapter) error {
	var err error
	dst.Each(func(l int, p model.Proj, d *lora.Pair) {
		s := src.Pair(l, p)
		if err != nil {
			return
		}
		if s == nil || len(s.A) != len(d.A) || len(s.B) != len(d.B) {
			err = fmt.Errorf("checkpoint adapter does not match the adapter being trained at layer %d %s", l, p)
			return
		}
		copy(d.A, s.A)
		copy(d.B, s.B)
	})
	return err
}
