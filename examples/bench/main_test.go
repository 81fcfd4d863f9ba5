package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/examples/internal/clitest"
	"github.com/valora-go/valora/model"
)

// benchJSON runs the program and decodes its line; it returns the line and the log.
func benchJSON(t *testing.T, args ...string) (map[string]any, string) {
	t.Helper()
	o := clitest.OK(t, run, args...)
	require.Equal(t, 1, strings.Count(o.Stdout, "\n"), "stdout holds exactly one line")
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(o.Stdout), &res))
	return res, o.Stderr
}

func TestBenchTiny(t *testing.T) {
	res, log := benchJSON(t, "-preset", "tiny", "-steps", "1", "-warmup", "0", "-gemm-reps", "1", "-threads", "2")
	require.Contains(t, log, "[bench]")
	require.Equal(t, "tiny", res["preset"])
	require.Equal(t, model.KernelName(), res["kernel"])
	require.NotEmpty(t, res["cpu"])
	require.Equal(t, runtime.Version(), res["go"])
	for k, want := range map[string]float64{"batch": 4, "seq": 96, "rank": 16, "alpha": 64, "threads": 2} {
		require.Equal(t, want, res[k], k)
	}
	positive := func(key string, v any) {
		f, ok := v.(float64)
		require.True(t, ok && f > 0, "%s = %v, want a positive number", key, v)
	}
	for _, k := range []string{"score_samples_per_s", "train_samples_per_s", "build_s"} {
		positive(k, res[k])
	}
	if runtime.GOOS == "linux" {
		positive("peak_rss_mb", res["peak_rss_mb"])
		rss := res["rss_mb"].(map[string]any)
		for _, k := range []string{"after_build_peak", "after_score_peak", "after_train_peak", "peak"} {
			positive("rss_mb."+k, rss[k])
		}
		require.Equal(t, res["peak_rss_mb"], rss["peak"])
	}
	for _, phase := range []string{"score", "train"} {
		s := res[phase].(map[string]any)
		for _, k := range []string{"median_s", "min_s", "max_s", "samples_per_s", "tokens_per_s", "achieved_gflops"} {
			positive(phase+"."+k, s[k])
		}
		require.Equal(t, 1.0, s["n"])
		require.Equal(t, res[phase+"_samples_per_s"], s["samples_per_s"])
	}
	losses := res["losses"].([]any)
	require.Len(t, losses, 1)
	positive("losses[0]", losses[0])
	gemm := res["gemm_gflops"].(map[string]any)
	for _, k := range []string{"1024x1024x1024", "1024x4096x1024", "2048x2048x2048", "384x64x176"} {
		positive("gemm_gflops."+k, gemm[k])
	}
	require.Len(t, gemm, 4)
	positive("gemm_peak_gflops", res["gemm_peak_gflops"])
}

func TestBenchSkipsPhases(t *testing.T) {
	res, _ := benchJSON(t, "-preset", "tiny", "-seq", "8", "-rank", "4", "-no-score", "-no-train", "-no-gemm")
	for _, k := range []string{"score", "train", "gemm_gflops", "score_samples_per_s", "train_samples_per_s", "losses"} {
		require.NotContains(t, res, k)
	}
	require.Equal(t, 4.0, res["rank"])
	require.Equal(t, 16.0, res["alpha"], "alpha is 4*rank when -rank is given")
}

// The survey workload trains on the same batches with and without prefix sharing, at batch 16,
// and reports both settings in the JSON line.
func TestBenchSurvey(t *testing.T) {
	var losses [2][]any
	for i, sharing := range []bool{true, false} {
		res, log := benchJSON(t, "-preset", "tiny", "-workload", "survey", "-steps", "2", "-no-gemm", "-no-score",
			"-threads", "2", fmt.Sprintf("-prefix-sharing=%v", sharing))
		require.Contains(t, log, "with shared prefixes")
		require.Equal(t, "survey", res["workload"])
		require.Equal(t, sharing, res["prefix_sharing"])
		require.Equal(t, 16.0, res["batch"])
		f, ok := res["train_samples_per_s"].(float64)
		require.True(t, ok && f > 0, "train_samples_per_s %v", res["train_samples_per_s"])
		losses[i] = res["losses"].([]any)
	}
	require.Len(t, losses[0], 4) // each of the 2 batches once untimed, then 2 timed steps
	for i := range losses[0] {   // rounded to 1e-5: the same losses either way
		require.InDelta(t, losses[1][i].(float64), losses[0][i].(float64), 2e-5)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-preset", "huge"},
		{"-preset", ""},
		{"-batch", "0"},
		{"-seq", "-1"},
		{"-steps", "0"},
		{"-score-steps", "0"},
		{"-warmup", "-1"},
		{"-rank", "0"},
		{"-alpha", "-2"},
		{"-threads", "-1"},
		{"-gemm-reps", "0"},
		{"-workload", "nope"},
		{"-dtype", "int8"},
		{"-checkpoint", "sometimes"},
		{"-memory-limit", "-1"},
		{"-nonsense"},
		{"-preset", "tiny", "extra"},
	} {
		o := clitest.Fails(t, run, 2, "", args...)
		require.Empty(t, o.Stdout, "%v", args)
		require.NotEmpty(t, o.Stderr, "%v", args)
	}
	o := clitest.Fails(t, run, 2, `unknown preset "huge"`, "-preset", "huge")
	require.Contains(t, o.Stderr, "tiny|small|qwen3-0.6b")
}

func TestPresets(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		vocab, hidden, inter, layers int
		heads, kv, headDim, rank     int
		alpha                        float64
		tied, qkNorm                 bool
	}{
		{"tiny", 512, 64, 176, 2, 4, 2, 16, 16, 64, false, false},
		{"small", 32000, 512, 1536, 8, 8, 4, 64, 128, 512, false, false},
		{"qwen3-0.6b", 151936, 1024, 3072, 28, 16, 8, 128, 128, 512, true, true},
	} {
		p, ok := findPreset(tc.name)
		require.True(t, ok, tc.name)
		c := p.cfg
		require.Equal(t, []int{tc.vocab, tc.hidden, tc.inter, tc.layers, tc.heads, tc.kv, tc.headDim, tc.rank},
			[]int{c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKVHeads, c.HeadDim, p.rank}, tc.name)
		require.Equal(t, tc.alpha, p.alpha, tc.name)
		require.Equal(t, tc.tied, c.TieWordEmbeddings, tc.name)
		require.Equal(t, tc.qkNorm, c.QKNorm, tc.name)
	}
	_, ok := findPreset("nope")
	require.False(t, ok)
}
