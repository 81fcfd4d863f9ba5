package lora

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/model"
)

func copyAdapter(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	require.NoError(t, os.CopyFS(d, os.DirFS("../testdata/llama-tiny/adapter")))
	return d
}

func editAdapterConfig(t *testing.T, dir string, fields map[string]string) {
	t.Helper()
	p := filepath.Join(dir, ConfigFile)
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	for k, v := range fields {
		m[k] = json.RawMessage(v)
	}
	raw, _ = json.Marshal(m)
	require.NoError(t, os.WriteFile(p, raw, 0o644))
}

// TestLoadHostileAdapters: sizes from adapter_config.json are checked against the weights file
// before anything is allocated; absurd scales are refused by name; non-finite values are refused.
func TestLoadHostileAdapters(t *testing.T) {
	m, err := model.Load("../testdata/llama-tiny/model")
	require.NoError(t, err)
	defer m.Close()
	cases := []struct {
		name string
		edit func(t *testing.T, dir string)
		want string
	}{
		{"r 1e9", func(t *testing.T, d string) { editAdapterConfig(t, d, map[string]string{"r": "1000000000"}) }, "r 1000000000 with"},
		{"r max int", func(t *testing.T, d string) { editAdapterConfig(t, d, map[string]string{"r": "9223372036854775807"}) }, "more than 2^63"},
		{"r negative", func(t *testing.T, d string) { editAdapterConfig(t, d, map[string]string{"r": "-4"}) }, "rank -4"},
		{"alpha 0", func(t *testing.T, d string) { editAdapterConfig(t, d, map[string]string{"lora_alpha": "0"}) }, "alpha 0"},
		{"alpha negative", func(t *testing.T, d string) { editAdapterConfig(t, d, map[string]string{"lora_alpha": "-16"}) }, "alpha -16"},
		{"alpha 1e308", func(t *testing.T, d string) { editAdapterConfig(t, d, map[string]string{"lora_alpha": "1e308"}) }, "alpha"},
		{"dropout 1", func(t *testing.T, d string) { editAdapterConfig(t, d, map[string]string{"lora_dropout": "1"}) }, "dropout"},
		{"layer 1e9", func(t *testing.T, d string) {
			editAdapterConfig(t, d, map[string]string{"layers_to_transform": "[1000000000]"})
		}, "layer 1000000000"},
		{"NaN weight", func(t *testing.T, d string) {
			p := filepath.Join(d, WeightsFile)
			ts, err := model.ReadTensors(p)
			require.NoError(t, err)
			for n, v := range ts {
				if strings.HasSuffix(n, "lora_B.weight") {
					v.F32[1] = float32(math.NaN())
					break
				}
			}
			require.NoError(t, model.WriteTensors(p, ts, map[string]string{"format": "pt"}))
		}, "holds a non-finite value (NaN at index 1)"},
		{"weights a FIFO-free directory", func(t *testing.T, d string) {
			p := filepath.Join(d, WeightsFile)
			require.NoError(t, os.Remove(p))
			require.NoError(t, os.Mkdir(p, 0o755))
		}, "not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := copyAdapter(t)
			c.edit(t, d)
			start := time.Now()
			_, err := Load(d, m)
			require.ErrorContains(t, err, c.want)
			require.Less(t, time.Since(start), 2*time.Second)
		})
	}
}

// FuzzReadConfig: no adapter_config.json makes ReadConfig panic; an accepted config's size is
// computable without overflow.
func FuzzReadConfig(f *testing.F) {
	if raw, err := os.ReadFile("../testdata/llama-tiny/adapter/adapter_config.json"); err == nil {
		f.Add(raw)
	}
	if raw, err := os.ReadFile("../testdata/qwen3-sharded-rslora/adapter/adapter_config.json"); err == nil {
		f.Add(raw)
	}
	mc, err := model.LoadConfig("../testdata/llama-tiny/model/config.json")
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, ConfigFile)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := ReadConfig(p, mc)
		if err != nil {
			return
		}
		if cfg.Rank <= 0 || !(cfg.Alpha > 0) {
			t.Fatalf("accepted rank %d alpha %v", cfg.Rank, cfg.Alpha)
		}
		cfg.elements(mc)
	})
}
