package model

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/stfile"
)

const llamaTiny = "../testdata/llama-tiny/model"

// editConfig returns llama-tiny's config.json with fields replaced (raw JSON values).
func editConfig(t *testing.T, fields map[string]string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(llamaTiny, "config.json"))
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	for k, v := range fields {
		m[k] = json.RawMessage(v)
	}
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// TestParseConfigRejectsAbsurdValues: sizes are bounded and the products checked before
// anything is allocated; epsilons and scales that make the arithmetic meaningless are refused
// by name.
func TestParseConfigRejectsAbsurdValues(t *testing.T) {
	cases := []struct {
		fields map[string]string
		want   string
	}{
		{map[string]string{"num_hidden_layers": "10000000"}, "num_hidden_layers: 10000000, want 1..4096"},
		{map[string]string{"vocab_size": "1000000000000"}, "vocab_size"},
		{map[string]string{"hidden_size": "9223372036854775807"}, "hidden_size"},
		{map[string]string{"intermediate_size": "4294967296"}, "intermediate_size"},
		{map[string]string{"num_attention_heads": "4096", "num_key_value_heads": "4096", "head_dim": "16384"}, "num_attention_heads 4096 x head_dim 16384"},
		{map[string]string{"head_dim": "1000000"}, "head_dim"},
		{map[string]string{"rms_norm_eps": "0"}, "rms_norm_eps"},
		{map[string]string{"rms_norm_eps": "-1e-5"}, "rms_norm_eps"},
		{map[string]string{"rms_norm_eps": "1e-50"}, "not 0 in float32"},
		{map[string]string{"rms_norm_eps": "1e300"}, "rms_norm_eps"},
		{map[string]string{"rope_theta": "0"}, "rope_theta"},
		{map[string]string{"rope_theta": "-10000"}, "rope_theta"},
		{map[string]string{"rope_theta": "1e308"}, "rope_theta"},
		{map[string]string{"rope_scaling": `{"rope_type":"llama3","factor":-8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}`}, "rope_scaling.factor"},
		{map[string]string{"rope_scaling": `{"rope_type":"llama3","factor":1e300,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}`}, "rope_scaling.factor"},
		{map[string]string{"rope_parameters": `{"rope_theta":0}`}, "rope_parameters.rope_theta"},
		{map[string]string{"max_position_embeddings": "-1"}, "max_position_embeddings"},
		{map[string]string{"eos_token_id": "[1, 2, 99999999]"}, "outside the vocabulary"},
		{map[string]string{"bos_token_id": "-7"}, "outside the vocabulary"},
	}
	for _, c := range cases {
		_, err := ParseConfig(editConfig(t, c.fields))
		require.Error(t, err, "%v", c.fields)
		require.ErrorContains(t, err, c.want, "%v", c.fields)
	}
}

// TestLoadChecksConfigAgainstFiles: a config whose sizes the weight files cannot hold is refused
// before the list of expected tensors (or anything else) is built from it.
func TestLoadChecksConfigAgainstFiles(t *testing.T) {
	cases := []struct {
		fields map[string]string
		want   string
	}{
		{map[string]string{"num_hidden_layers": "4096"}, "config implies 36867 tensors (num_hidden_layers 4096), the weight files hold 21"},
		{map[string]string{"vocab_size": "4000000", "hidden_size": "1048576", "num_attention_heads": "4", "head_dim": "16"}, "bytes of weights, the weight files hold"},
	}
	for _, c := range cases {
		d := copyDir(t, llamaTiny)
		require.NoError(t, os.WriteFile(filepath.Join(d, "config.json"), editConfig(t, c.fields), 0o644))
		start := time.Now()
		_, err := Load(d)
		require.ErrorContains(t, err, c.want)
		require.Less(t, time.Since(start), 2*time.Second)
	}
}

// TestLoadHostileWeightFiles: a FIFO must not block, a directory is not a weight file, and a
// malformed file's error carries the numbers that matter.
func TestLoadHostileWeightFiles(t *testing.T) {
	t.Run("fifo", func(t *testing.T) {
		d := copyDir(t, llamaTiny)
		p := filepath.Join(d, "model.safetensors")
		require.NoError(t, os.Remove(p))
		require.NoError(t, syscall.Mkfifo(p, 0o644))
		done := make(chan error, 1)
		go func() { _, err := Load(d); done <- err }()
		select {
		case err := <-done:
			require.ErrorContains(t, err, "not a regular file")
		case <-time.After(5 * time.Second):
			t.Fatal("Load blocked on a FIFO")
		}
	})
	t.Run("directory", func(t *testing.T) {
		d := copyDir(t, llamaTiny)
		p := filepath.Join(d, "model.safetensors")
		require.NoError(t, os.Remove(p))
		require.NoError(t, os.Mkdir(p, 0o755))
		_, err := Load(d)
		require.ErrorContains(t, err, "not a regular file")
	})
	body := make([]byte, 16)
	hdr := func(s string) string { return s }
	msgs := []struct {
		name string
		data []byte
		want []string
	}{
		{"offset past end", rawSafetensors(hdr(`{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"x":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}`), body),
			[]string{"tensor x", "data_offsets [16 32] run past the end of the 16-byte data section", "truncated?"}},
		{"trailing bytes", rawSafetensors(hdr(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`), body),
			[]string{"8 trailing bytes", "implies a", "it is"}},
		{"shape vs offsets", rawSafetensors(hdr(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`), body),
			[]string{"needs 12 bytes", "span 16"}},
		{"shape overflow", rawSafetensors(hdr(`{"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}}`), body),
			[]string{"needs more bytes than the 16-byte data section"}},
		{"header past end", append([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, body...), []string{"header length 4294967295 runs past the end of the 24-byte file"}},
		{"short", []byte{1, 2}, []string{"shorter than the 8-byte header"}},
		{"unknown dtype", rawSafetensors(`{"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}`, body), []string{`unknown dtype "F128"`}},
	}
	for _, c := range msgs {
		_, err := stfile.Parse(c.name, c.data)
		require.Error(t, err, c.name)
		for _, w := range c.want {
			require.ErrorContains(t, err, w, c.name)
		}
		require.NotContains(t, err.Error(), "incomplete buffer", c.name)
	}
}

// TestTruncatedAfterLoadInMemory: with stfile.ReadIntoMemory, a weight file truncated after the
// load cannot fault the process (with the default mapping the next read of a vanished page
// raises SIGBUS: see stfile.ReadIntoMemory).
func TestTruncatedAfterLoadInMemory(t *testing.T) {
	stfile.ReadIntoMemory = true
	defer func() { stfile.ReadIntoMemory = false }()
	d := copyDir(t, llamaTiny)
	m := loadModel(t, d)
	require.NoError(t, os.Truncate(filepath.Join(d, "model.safetensors"), 0))
	require.NoError(t, m.CheckFinite()) // reads every weight
}

// TestNonFiniteWeights: NaN in a norm is refused at load; NaN or Inf in a projection is named by
// CheckFinite.
func TestNonFiniteWeights(t *testing.T) {
	d := copyDir(t, llamaTiny)
	rewrite(t, d, func(ts map[string]Tensor) {
		ts["model.layers.1.post_attention_layernorm.weight"].F32[3] = float32(math.NaN())
	})
	_, err := Load(d)
	require.ErrorContains(t, err, "model.layers.1.post_attention_layernorm.weight holds a non-finite value (NaN at index 3)")

	d = copyDir(t, llamaTiny)
	rewrite(t, d, func(ts map[string]Tensor) { ts["model.layers.0.mlp.down_proj.weight"].F32[5] = float32(math.Inf(-1)) })
	m := loadModel(t, d)
	require.ErrorContains(t, m.CheckFinite(), "model.layers.0.mlp.down_proj.weight holds a non-finite value (-Inf at index 5)")
	// The first forward pass that produces a non-finite logit names the tensor.
	_, err = m.Forward(context.Background(), Batch{B: 1, T: 3, IDs: []int32{1, 2, 3}}, Options{})
	require.ErrorContains(t, err, "model.layers.0.mlp.down_proj.weight holds a non-finite value (-Inf at index 5)")
}
