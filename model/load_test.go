package model

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range ents {
		raw, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), raw, 0o644))
	}
	return dst
}

// rewrite loads dir/model.safetensors, lets edit change the tensors, and writes it back.
func rewrite(t *testing.T, dir string, edit func(map[string]Tensor)) {
	t.Helper()
	p := filepath.Join(dir, "model.safetensors")
	ts, err := ReadTensors(p)
	require.NoError(t, err)
	edit(ts)
	require.NoError(t, WriteTensors(p, ts, map[string]string{"format": "pt"}))
}

func rawSafetensors(header string, body []byte) []byte {
	out := make([]byte, 8, 8+len(header)+len(body))
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	return append(append(out, header...), body...)
}

func TestLoadRejectsBadCheckpoints(t *testing.T) {
	llama := filepath.Join("..", "testdata", "llama-tiny", "model")
	sharded := filepath.Join("..", "testdata", "qwen3-sharded-rslora", "model")
	cases := []struct {
		name  string
		setup func(t *testing.T) string
		want  []string
	}{
		{"truncated file", func(t *testing.T) string {
			d := copyDir(t, llama)
			p := filepath.Join(d, "model.safetensors")
			st, _ := os.Stat(p)
			require.NoError(t, os.Truncate(p, st.Size()/2))
			return d
		}, []string{"model.safetensors", "run past the end", "truncated?"}},
		{"header length past end of file", func(t *testing.T) string {
			d := copyDir(t, llama)
			raw := rawSafetensors(`{}`, nil)
			binary.LittleEndian.PutUint64(raw, 1<<20)
			require.NoError(t, os.WriteFile(filepath.Join(d, "model.safetensors"), raw, 0o644))
			return d
		}, []string{"model.safetensors", "header length 1048576 runs past the end"}},
		{"file shorter than its header length field", func(t *testing.T) string {
			d := copyDir(t, llama)
			require.NoError(t, os.WriteFile(filepath.Join(d, "model.safetensors"), []byte{1, 2, 3}, 0o644))
			return d
		}, []string{"model.safetensors", "shorter than the 8-byte header"}},
		{"unknown dtype", func(t *testing.T) string {
			d := copyDir(t, llama)
			raw := rawSafetensors(`{"model.norm.weight":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}}`, []byte{0, 0})
			require.NoError(t, os.WriteFile(filepath.Join(d, "model.safetensors"), raw, 0o644))
			return d
		}, []string{"model.safetensors", "Q4"}},
		{"integer weights", func(t *testing.T) string {
			d := copyDir(t, llama)
			rewrite(t, d, func(ts map[string]Tensor) {
				ts["model.norm.weight"] = Tensor{Shape: []int{64}, I64: make([]int64, 64)}
			})
			return d
		}, []string{"model.norm.weight has dtype I64"}},
		{"wrong shape", func(t *testing.T) string {
			d := copyDir(t, llama)
			rewrite(t, d, func(ts map[string]Tensor) {
				w := ts["model.layers.1.self_attn.k_proj.weight"]
				ts["model.layers.1.self_attn.k_proj.weight"] = Tensor{Shape: []int{16, 64}, F32: w.F32[:16*64]}
			})
			return d
		}, []string{"model.layers.1.self_attn.k_proj.weight has shape [16 64], config implies [32 64]"}},
		{"missing and unexpected tensors", func(t *testing.T) string {
			d := copyDir(t, llama)
			rewrite(t, d, func(ts map[string]Tensor) {
				ts["model.layers.9.mlp.up_proj.weight"] = ts["model.layers.1.mlp.up_proj.weight"]
				delete(ts, "model.layers.1.mlp.up_proj.weight")
			})
			return d
		}, []string{"missing tensors: model.layers.1.mlp.up_proj.weight", "unexpected tensors: model.layers.9.mlp.up_proj.weight"}},
		{"sharded index names a missing shard", func(t *testing.T) string {
			d := copyDir(t, sharded)
			require.NoError(t, os.Remove(filepath.Join(d, "model-00003-of-00004.safetensors")))
			return d
		}, []string{"model-00003-of-00004.safetensors", "not found"}},
		{"unknown model_type", func(t *testing.T) string {
			d := copyDir(t, llama)
			cfg, _ := os.ReadFile(filepath.Join(d, "config.json"))
			cfg = []byte(strings.Replace(string(cfg), `"model_type": "llama"`, `"model_type": "gpt2"`, 1))
			require.NoError(t, os.WriteFile(filepath.Join(d, "config.json"), cfg, 0o644))
			return d
		}, []string{"config.json", `model_type: "gpt2" is not supported`}},
		{"no weights", func(t *testing.T) string {
			d := t.TempDir()
			raw, _ := os.ReadFile(filepath.Join(llama, "config.json"))
			require.NoError(t, os.WriteFile(filepath.Join(d, "config.json"), raw, 0o644))
			return d
		}, []string{"model.safetensors", "not found"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.setup(t)
			m, err := Load(dir)
			require.Error(t, err)
			require.Nil(t, m)
			for _, w := range c.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}
