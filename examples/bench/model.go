// The model and adapter under test: a random model of the preset's shape (or a bf16
// checkpoint written to -scratch, or -model), and its LoRA adapter.

package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/train"
)

// buildModel makes the benchmark's model: a random float32 one in memory, a random bfloat16
// checkpoint written to o.scratch (reused when there) and loaded, or o.modelDir loaded.
func buildModel(o options, res *result, logf func(string, ...any)) (*model.Model, error) {
	c := o.preset.cfg
	dir := o.modelDir
	res.DType = o.dtype
	if dir == "" && o.dtype == "f32" {
		half, _, _ := c.TensorBytes()
		avail, err := train.AvailableMemory()
		if o.memoryLimit > 0 {
			avail, err = o.memoryLimit, nil
		}
		if err == nil && 2*half > avail {
			return nil, fmt.Errorf("preset %s: its float32 weights take %.1f GiB, more than the %.1f GiB available; -dtype bf16 writes them as a bfloat16 checkpoint and maps it",
				o.preset.name, float64(2*half)/(1<<30), float64(avail)/(1<<30))
		}
		t0 := time.Now()
		logf("building %s (float32, %d threads, kernel %s) ...", o.preset.name, res.Threads, res.Kernel)
		m, err := model.Random(c, o.seed)
		if err != nil {
			return nil, fmt.Errorf("building the model: %w", err)
		}
		res.LoadS = time.Since(t0).Seconds()
		return m, nil
	}
	if dir == "" {
		dir = o.scratch
		if !o.noTrain && o.workload == "random" {
			// Before 16 GB are written for nothing: does training fit at all?
			plan := train.MemoryPlan{Shape: train.StepShape{Batch: o.batch, Seq: o.seq, Predicted: o.batch},
				Checkpointing: o.checkpointing, Limit: o.memoryLimit}
			if _, err := train.PlanMemoryConfig(&c, "bfloat16", adapterConfig(o), plan); err != nil {
				return nil, err
			}
		}
		need, err := model.RandomCheckpointBytes(c, "bfloat16")
		if err != nil {
			return nil, err
		}
		if err := checkDisk(dir, need); err != nil {
			return nil, err
		}
		logf("random bfloat16 checkpoint of %s (%.2f GB) in %s ...", o.preset.name, float64(need)/1e9, dir)
		t0 := time.Now()
		reused, err := model.WriteRandom(dir, c, "bfloat16", o.seed)
		if err != nil {
			return nil, err
		}
		if reused {
			logf("reused the checkpoint already there")
		} else {
			res.CheckpointWriteS = time.Since(t0).Seconds()
			logf("written in %.1fs", res.CheckpointWriteS)
		}
	}
	t0 := time.Now()
	m, err := model.Load(dir)
	if err != nil {
		return nil, err
	}
	res.LoadS = time.Since(t0).Seconds()
	res.CheckpointDir = dir
	res.DType = strings.TrimPrefix(m.Config.DType, "torch.")
	logf("loaded %s (%s, memory-mapped) in %.2fs, %d threads, kernel %s", dir, res.DType, res.LoadS, res.Threads, res.Kernel)
	return m, nil
}

// checkDisk fails when the file system of dir (created if needed) has less room than need
// bytes beyond the weight files already there (which a rewrite replaces one at a time).
func checkDisk(dir string, need int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("scratch directory: %w", err)
	}
	free, ok := freeDisk(dir)
	if !ok {
		return nil // not measurable here: the write fails if it must
	}
	var held, largest int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".safetensors") {
			if info, err := e.Info(); err == nil {
				held += info.Size()
				largest = max(largest, info.Size())
			}
		}
	}
	if free+held-largest < need {
		return fmt.Errorf("scratch directory %s: the checkpoint needs %.2f GB, the file system has %.2f GB free (plus %.2f GB of weight files there now); free some space or pass -scratch on another disk",
			dir, float64(need)/1e9, float64(free)/1e9, float64(held)/1e9)
	}
	return nil
}

// adapterConfig is the benchmark's adapter: rank o.rank on every projection.
func adapterConfig(o options) lora.Config {
	cfg := lora.DefaultConfig()
	cfg.Rank, cfg.Alpha, cfg.Targets, cfg.Seed = o.rank, o.alpha, lora.AllProjections(), o.seed+1
	return cfg
}

// newAdapter creates the rank-o.rank adapter on every projection: A as PEFT initialises it
// (seed+1), B drawn from N(0, 0.001²) as the harness's b_std, so that its update is not zero.
func newAdapter(m *model.Model, o options) (*lora.Adapter, error) {
	ad, err := lora.New(m, adapterConfig(o))
	if err != nil {
		return nil, fmt.Errorf("creating the adapter: %w", err)
	}
	rng := rand.New(rand.NewPCG(o.seed+1, 0xb57d))
	ad.Each(func(_ int, _ model.Proj, p *lora.Pair) {
		for i := range p.B {
			p.B[i] = float32(rng.NormFloat64() * 1e-3)
		}
	})
	return ad, nil
}

// baseParams counts the frozen model's values (a tied LM head once).
func baseParams(m *model.Model) int {
	c := &m.Config
	n := c.VocabSize*c.HiddenSize + c.HiddenSize // embedding, final norm
	if !c.TieWordEmbeddings {
		n += c.VocabSize * c.HiddenSize
	}
	per := 2 * c.HiddenSize // input and post-attention norms
	if c.QKNorm {
		per += 2 * c.HeadDim
	}
	for p := model.Proj(0); p < model.NumProj; p++ {
		s := c.ProjShape(p)
		per += s[0] * s[1]
	}
	return n + c.NumLayers*per
}
