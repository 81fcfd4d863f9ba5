package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/valora-go/valora/internal/atomicfile"
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
	// Nothing non-finite is ever written: the guard in step stops the run first, and this
	// check holds even for a state that reached here another way.
	if where := nonFiniteAdapter(t.a, t.e.threads()); where != "" {
		return fmt.Errorf("train: checkpoint %s: %w: %s; nothing written", name, ErrNonFinite, where)
	}
	if where := t.nonFiniteOptimizer(); where != "" {
		return fmt.Errorf("train: checkpoint %s: %w: %s; nothing written", name, ErrNonFinite, where)
	}
	sweepTemp(root)
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
	if err := atomicfile.WriteFile(filepath.Join(tmp, stateFile), raw); err != nil {
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
	if err := atomicfile.WriteFile(filepath.Join(root, latestFile), []byte(name+"\n")); err != nil {
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
	name, err := latestCheckpoint(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("train: resume: %w", err)
	}
	sweepTemp(root)
	dir := filepath.Join(root, name)
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
	raw, err := readSmall(filepath.Join(dir, stateFile), 1<<20)
	if err != nil {
		return fail(err)
	}
	if err := json.Unmarshal(raw, &t.state); err != nil {
		return fail(fmt.Errorf("%s: %w", stateFile, err))
	}
	if err := t.checkState(); err != nil {
		return fail(fmt.Errorf("%s: %w", stateFile, err))
	}
	if t.state.BestVal < 0 {
		t.state.BestVal = math.Inf(1)
	}
	var epochRNG rand.PCG
	if err := epochRNG.UnmarshalBinary(t.state.EpochRNG); err != nil {
		return fail(fmt.Errorf("%s: field epoch_rng: %w", stateFile, err))
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
				for j, x := range v {
					if x-x != 0 || (s.k[0] == 'v' && x < 0) {
						return fail(fmt.Errorf("%s: optimizer state %d.%s holds %v at index %d", optimizerFile, i, s.k, x, j))
					}
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

// checkpointName is the only form LATEST may hold: a checkpoint directory under checkpoints/.
var checkpointName = regexp.MustCompile(`^step-[0-9]{8,12}$`)

// latestCheckpoint reads LATEST under dir/checkpoints: a checkpoint name (no path), naming a
// directory (not a link) that exists there.
func latestCheckpoint(dir string) (string, error) {
	root := filepath.Join(dir, checkpointsDir)
	raw, err := readSmall(filepath.Join(root, latestFile), 256)
	if err != nil {
		return "", err
	}
	name := strings.TrimSpace(string(raw))
	if !checkpointName.MatchString(name) {
		return "", fmt.Errorf("%s: %q is not a checkpoint name (want step-NNNNNNNN, a directory in %s)", filepath.Join(root, latestFile), name, root)
	}
	st, err := os.Lstat(filepath.Join(root, name))
	if err != nil {
		return "", fmt.Errorf("%s names %s: %w", filepath.Join(root, latestFile), name, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%s names %s, which is not a directory (mode %s)", filepath.Join(root, latestFile), name, st.Mode())
	}
	return name, nil
}

// readSmall reads a regular file of at most limit bytes without following a final symlink.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow|noBlock, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (mode %s)", path, st.Mode())
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, over the limit of %d", path, st.Size(), limit)
	}
	buf := make([]byte, st.Size())
	if _, err := f.ReadAt(buf, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return buf, nil
}

// sweepTemp removes the temporary directories of checkpoints interrupted by a crash.
func sweepTemp(root string) {
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, ".step-") && strings.Contains(n, ".tmp-") {
			os.RemoveAll(filepath.Join(root, n))
		}
	}
}

// checkState checks every field of a resumed trainer_state.json against the run's settings.
func (t *Trainer) checkState() error {
	st, spe := &t.state, t.StepsPerEpoch()
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case st.Epoch < 0 || st.Epoch > t.cfg.Epochs:
		return fmt.Errorf("field epoch: %d, want 0..%d (the run's epochs)", st.Epoch, t.cfg.Epochs)
	case st.StepInEpoch < 0 || st.StepInEpoch >= max(spe, 1):
		return fmt.Errorf("field step_in_epoch: %d, want 0..%d (steps per epoch %d)", st.StepInEpoch, spe-1, spe)
	case st.Step != st.Epoch*spe+st.StepInEpoch:
		return fmt.Errorf("field step: %d, want epoch %d x %d steps + step_in_epoch %d = %d", st.Step, st.Epoch, spe, st.StepInEpoch, st.Epoch*spe+st.StepInEpoch)
	case st.BestStep < 0 || st.BestStep > st.Step:
		return fmt.Errorf("field best_step: %d, want 0..%d", st.BestStep, st.Step)
	case st.BestEpoch < 0 || st.BestEpoch > st.Epoch:
		return fmt.Errorf("field best_epoch: %d, want 0..%d", st.BestEpoch, st.Epoch)
	case st.BadEvals < 0 || st.BadEvals > t.cfg.Patience+1:
		return fmt.Errorf("field bad_evals: %d, want 0..%d", st.BadEvals, t.cfg.Patience+1)
	case !finite(st.BestVal) || !finite(st.FirstLoss) || !finite(st.LastLoss):
		return fmt.Errorf("fields best_val, first_loss, last_loss: %v, %v, %v, want finite numbers", st.BestVal, st.FirstLoss, st.LastLoss)
	case !finite(st.Elapsed) || st.Elapsed < 0:
		return fmt.Errorf("field elapsed_s: %v, want a finite number >= 0", st.Elapsed)
	}
	return nil
}

// nonFiniteOptimizer names the first optimizer moment holding a NaN or infinity, or returns "".
func (t *Trainer) nonFiniteOptimizer() string {
	for i, p := range t.e.params {
		for _, s := range []struct {
			k string
			v []float32
		}{{"mA", p.mA}, {"vA", p.vA}, {"mB", p.mB}, {"vB", p.vB}} {
			for j, x := range s.v {
				if x-x != 0 {
					return fmt.Sprintf("optimizer state %d.%s holds %v at index %d", i, s.k, x, j)
				}
			}
		}
	}
	return ""
}
