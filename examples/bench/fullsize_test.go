package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/examples/internal/clitest"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/train"
)

// -dtype bf16 runs the full-size presets' path at a small shape: a random bfloat16
// checkpoint written to -scratch (then reused), loaded memory-mapped, the memory estimate
// checked and reported, training with and without checkpointing (the same losses).
func TestBenchBF16Checkpoint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	args := []string{"-preset", "tiny", "-dtype", "bf16", "-scratch", dir, "-steps", "1", "-warmup", "1", "-no-gemm", "-threads", "2"}
	on, log := benchJSON(t, append(args, "-checkpoint", "on")...)
	require.Contains(t, log, "random bfloat16 checkpoint")
	require.Contains(t, log, "memory: training needs about")
	require.Equal(t, "bfloat16", on["dtype"])
	require.Equal(t, dir, on["checkpoint_dir"])
	require.Equal(t, true, on["checkpointing"])
	for _, k := range []string{"checkpoint_write_s", "load_s", "mem_estimate_mb", "score_s", "train_step_s", "peak_rss_mb", "mem_available_mb"} {
		f, ok := on[k].(float64)
		require.True(t, ok && f > 0, "%s = %v", k, on[k])
	}
	est := on["mem_estimate"].(map[string]any)
	require.Equal(t, on["mem_estimate_mb"], est["total"])
	_, err := os.Stat(filepath.Join(dir, "config.json"))
	require.NoError(t, err)

	off, log := benchJSON(t, append(args, "-checkpoint", "off")...)
	require.Contains(t, log, "reused the checkpoint")
	require.NotContains(t, off, "checkpoint_write_s")
	require.Equal(t, false, off["checkpointing"])
	require.Equal(t, on["losses"], off["losses"], "checkpointing changes nothing of the results")
	require.Less(t, on["mem_estimate"].(map[string]any)["activations"], off["mem_estimate"].(map[string]any)["activations"])
}

// A run that does not fit stops before anything is written or trained, with the estimate and
// what would fit; so does a full-size preset on a machine too small for it.
func TestBenchStopsWhenTrainingDoesNotFit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	for _, args := range [][]string{
		{"-preset", "small", "-dtype", "bf16", "-scratch", dir, "-memory-limit", "0.05"},
		{"-preset", "llama3.1-8b", "-scratch", dir, "-memory-limit", "12"},
	} {
		require.Empty(t, clitest.Fails(t, run, 1, "train: training needs about", args...).Stdout)
		_, err := os.Stat(filepath.Join(dir, "config.json"))
		require.True(t, os.IsNotExist(err), "nothing written")
	}
	// float32 weights of 8B do not fit: the message says what does.
	clitest.Fails(t, run, 1, "-dtype bf16", "-preset", "qwen3-8b", "-dtype", "f32", "-memory-limit", "20")
}

// The full-size presets are the published configs, valid as config.json, and fit a 22 GiB
// budget at batch 4 x 96, rank 128 on all seven projections, with checkpointing only.
func TestFullSizePresets(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		vocab, hidden, inter, layers int
		heads, kv, headDim           int
		theta                        float64
		qkNorm                       bool
		rope                         string
	}{
		{"llama3.1-8b", 128256, 4096, 14336, 32, 32, 8, 128, 500000, false, "llama3"},
		{"qwen3-8b", 151936, 4096, 12288, 36, 32, 8, 128, 1e6, true, "default"},
		{"falcon3-7b", 131072, 3072, 23040, 28, 12, 4, 256, 1000042, false, "default"},
	} {
		p, ok := findPreset(tc.name)
		require.True(t, ok, tc.name)
		c := p.cfg
		require.True(t, p.full)
		require.Equal(t, []int{tc.vocab, tc.hidden, tc.inter, tc.layers, tc.heads, tc.kv, tc.headDim, 128},
			[]int{c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKVHeads, c.HeadDim, p.rank}, tc.name)
		require.Equal(t, 512.0, p.alpha)
		require.Equal(t, tc.theta, c.RopeTheta)
		require.Equal(t, tc.qkNorm, c.QKNorm)
		require.Equal(t, tc.rope, c.Rope.Type)
		require.False(t, c.TieWordEmbeddings)
		need, err := model.RandomCheckpointBytes(c, "bfloat16")
		require.NoError(t, err)
		require.InDelta(t, 16e9, float64(need), 1.5e9, "%s: about 16 GB of bfloat16", tc.name)

		o, code := parse([]string{"-preset", tc.name}, &bytes.Buffer{})
		require.Equal(t, -1, code)
		require.Equal(t, "bf16", o.dtype)
		require.Equal(t, []int{1, 1, 0}, []int{o.scoreSteps, o.trainSteps, o.warmup}, "one repeat of each phase")
		lc := adapterConfig(o)
		require.Equal(t, lora.AllProjections(), lc.Targets)
		s := train.StepShape{Batch: 4, Seq: 96}
		for _, ckpt := range []bool{false, true} {
			e, err := train.EstimateMemoryConfig(&c, "bfloat16", lc, s, ckpt)
			require.NoError(t, err)
			t.Logf("%s, checkpointing %v: %s", tc.name, ckpt, e)
			require.Equal(t, ckpt, e.Total < 21<<30, "%s: fits 21 GiB exactly with checkpointing", tc.name)
		}
	}
}
