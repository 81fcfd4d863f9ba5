package lora

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/valora-go/valora/model"
)

func loadModel(t *testing.T, fixture string) *model.Model {
	t.Helper()
	m, err := model.Load(filepath.Join("..", "testdata", fixture, "model"))
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func goldens(t *testing.T, fixture string) (map[string]model.Tensor, model.Batch) {
	t.Helper()
	g, err := model.ReadTensors(filepath.Join("..", "testdata", fixture, "goldens.safetensors"))
	require.NoError(t, err)
	ids := g["input_ids"]
	b := model.Batch{B: ids.Shape[0], T: ids.Shape[1], IDs: make([]int32, len(ids.I64))}
	for i, v := range ids.I64 {
		b.IDs[i] = int32(v)
	}
	return g, b
}

func maxAbs(a, b []float32) float64 {
	var w float64
	for i := range a {
		w = max(w, math.Abs(float64(a[i])-float64(b[i])))
	}
	return w
}

func forward(t *testing.T, m *model.Model, b model.Batch, ad model.Adapter) []float32 {
	t.Helper()
	out, err := m.Forward(context.Background(), b, model.Options{Adapter: ad})
	require.NoError(t, err)
	return out.Logits
}

func TestPEFTAdapterLogits(t *testing.T) {
	for _, fx := range []string{"llama-tiny", "qwen3-tiny", "qwen3-sharded-rslora"} {
		t.Run(fx, func(t *testing.T) {
			m := loadModel(t, fx)
			g, b := goldens(t, fx)
			a, err := Load(filepath.Join("..", "testdata", fx, "adapter"), m)
			require.NoError(t, err)
			d := maxAbs(forward(t, m, b, a), g["lora.logits"].F32)
			t.Logf("lora.logits max abs err %.3g", d)
			require.LessOrEqual(t, d, 1e-4)
			// The adapter really changes the output.
			require.Greater(t, maxAbs(forward(t, m, b, nil), g["lora.logits"].F32), 1e-3)
		})
	}
}

func TestRSLoRAConfig(t *testing.T) {
	m := loadModel(t, "qwen3-sharded-rslora")
	a, err := Load(filepath.Join("..", "testdata", "qwen3-sharded-rslora", "adapter"), m)
	require.NoError(t, err)
	require.True(t, a.Config.RSLoRA)
	require.InDelta(t, 16/math.Sqrt(8), a.Config.Scale(), 1e-12)
	require.Equal(t, []model.Proj{model.ProjQ, model.ProjV, model.ProjDown}, a.Config.Targets)
	require.Nil(t, a.Pair(0, model.ProjK))
	require.NotNil(t, a.Pair(2, model.ProjDown))
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m := loadModel(t, "qwen3-tiny")
	_, b := goldens(t, "qwen3-tiny")
	src, err := Load(filepath.Join("..", "testdata", "qwen3-tiny", "adapter"), m)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "out")
	require.NoError(t, src.Save(dir))
	back, err := Load(dir, m)
	require.NoError(t, err)
	require.Equal(t, src.Config, back.Config)
	require.Equal(t, forward(t, m, b, src), forward(t, m, b, back))

	st, err := model.ReadTensors(filepath.Join(dir, WeightsFile))
	require.NoError(t, err)
	require.Contains(t, st, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
	require.Equal(t, []int{16, 64}, st["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].Shape)
	require.Equal(t, []int{128, 16}, st["base_model.model.model.layers.1.mlp.up_proj.lora_B.weight"].Shape)
	raw, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	require.NoError(t, err)
	require.Contains(t, string(raw), `"peft_type": "LORA"`)
	require.Contains(t, string(raw), `"base_model_name_or_path": "`)
}

func TestNewInitialisesLikePEFT(t *testing.T) {
	m := loadModel(t, "llama-tiny")
	_, b := goldens(t, "llama-tiny")
	cfg := DefaultConfig()
	cfg.Rank, cfg.Alpha, cfg.Seed = 8, 32, 3
	a, err := New(m, cfg)
	require.NoError(t, err)
	require.Equal(t, 7*2, countPairs(a))
	// B = 0: the adapted model equals the base.
	require.Equal(t, forward(t, m, b, nil), forward(t, m, b, a))
	pr := a.Pair(0, model.ProjDown)
	bound := 1 / math.Sqrt(float64(pr.In))
	var lo, hi float64
	for _, v := range pr.A {
		require.LessOrEqual(t, math.Abs(float64(v)), bound)
		lo, hi = min(lo, float64(v)), max(hi, float64(v))
	}
	require.Less(t, lo, -0.8*bound) // spread over the whole interval
	require.Greater(t, hi, 0.8*bound)
	again, err := New(m, cfg)
	require.NoError(t, err)
	require.Equal(t, a.Pair(1, model.ProjQ).A, again.Pair(1, model.ProjQ).A, "same seed, same init")
}

func countPairs(a *Adapter) int {
	n := 0
	a.Each(func(int, model.Proj, *Pair) { n++ })
	return n
}

// Merging the adapter trained for 3 AdamW steps reproduces transformers' merged.logits;
// unmerging restores the base weights.
func TestMergeUnmerge(t *testing.T) {
	for _, fx := range []string{"llama-tiny", "qwen3-tiny"} {
		t.Run(fx, func(t *testing.T) {
			m := loadModel(t, fx)
			g, b := goldens(t, fx)
			dir := t.TempDir()
			cfg, err := os.ReadFile(filepath.Join("..", "testdata", fx, "adapter", ConfigFile))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), cfg, 0o644))
			w, err := os.ReadFile(filepath.Join("..", "testdata", fx, "lora_after_3_adamw_steps.safetensors"))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, WeightsFile), w, 0o644))
			a, err := Load(dir, m)
			require.NoError(t, err)

			base := make([][]float32, model.NumProj)
			for p := range model.NumProj {
				base[p] = append([]float32(nil), m.Layers[1].Proj[p].F32...)
			}
			unmergedLogits := forward(t, m, b, a)
			require.NoError(t, a.Merge(m))
			require.ErrorContains(t, a.Merge(m), "already merged")
			merged := forward(t, m, b, a) // AddDelta is a no-op while merged
			d := maxAbs(merged, g["merged.logits"].F32)
			t.Logf("merged.logits max abs err %.3g", d)
			require.LessOrEqual(t, d, 1e-4)
			require.LessOrEqual(t, maxAbs(merged, unmergedLogits), 1e-4)
			require.NoError(t, a.Unmerge(m))
			for p := range model.NumProj {
				require.LessOrEqual(t, maxAbs(m.Layers[1].Proj[p].F32, base[p]), 1e-6, "%v", p)
			}
			require.ErrorContains(t, a.Unmerge(m), "not merged")
		})
	}
}

func TestLoadRefusesUnsupportedPEFT(t *testing.T) {
	m := loadModel(t, "llama-tiny")
	src := filepath.Join("..", "testdata", "llama-tiny", "adapter")
	cfg, err := os.ReadFile(filepath.Join(src, ConfigFile))
	require.NoError(t, err)
	weights, err := os.ReadFile(filepath.Join(src, WeightsFile))
	require.NoError(t, err)
	cases := []struct{ name, from, to, want string }{
		{"dora", `"use_dora": false`, `"use_dora": true`, "DoRA"},
		{"bias", `"bias": "none"`, `"bias": "all"`, `bias "all"`},
		{"modules_to_save", `"modules_to_save": null`, `"modules_to_save": ["lm_head"]`, "modules_to_save"},
		{"embedding target", `"v_proj"`, `"embed_tokens"`, "embed_tokens"},
		{"regex targets", `"target_modules": [`, `"target_modules": ".*proj", "x": [`, "regular expression"},
		{"rank pattern", `"rank_pattern": {}`, `"rank_pattern": {"q_proj": 4}`, "rank_pattern"},
		{"other peft type", `"peft_type": "LORA"`, `"peft_type": "IA3"`, `peft_type "IA3"`},
		{"bad layer", `"layers_to_transform": null`, `"layers_to_transform": [5]`, "layer 5 outside"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Contains(t, string(cfg), c.from)
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte(strings.Replace(string(cfg), c.from, c.to, 1)), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, WeightsFile), weights, 0o644))
			_, err := Load(dir, m)
			require.ErrorContains(t, err, c.want)
		})
	}
	t.Run("wrong rank in weights", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte(strings.Replace(string(cfg), `"r": 16`, `"r": 8`, 1)), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, WeightsFile), weights, 0o644))
		_, err := Load(dir, m)
		require.ErrorContains(t, err, "has shape [16 64], want [8 64]")
	})
	t.Run("missing and extra tensors", func(t *testing.T) {
		ts, err := model.ReadTensors(filepath.Join(src, WeightsFile))
		require.NoError(t, err)
		delete(ts, "base_model.model.model.layers.1.mlp.up_proj.lora_B.weight")
		ts["base_model.model.model.embed_tokens.lora_embedding_A"] = model.Tensor{Shape: []int{1}, F32: []float32{0}}
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), cfg, 0o644))
		require.NoError(t, model.WriteTensors(filepath.Join(dir, WeightsFile), ts, nil))
		_, err = Load(dir, m)
		require.ErrorContains(t, err, "missing tensor base_model.model.model.layers.1.mlp.up_proj.lora_B.weight")
		require.ErrorContains(t, err, "unexpected tensor base_model.model.model.embed_tokens.lora_embedding_A")
	})
}
