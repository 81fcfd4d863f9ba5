package model

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigSpellingsAgree(t *testing.T) {
	for _, fx := range []string{"llama-tiny", "qwen3-tiny", "qwen3-sharded-rslora"} {
		t.Run(fx, func(t *testing.T) {
			dir := filepath.Join("..", "testdata", fx, "model")
			hub, err := LoadConfig(filepath.Join(dir, "config.json"))
			require.NoError(t, err)
			tf5, err := LoadConfig(filepath.Join(dir, "config.saved-by-transformers.json"))
			require.NoError(t, err)
			hub.DType, tf5.DType = "", ""
			require.Equal(t, hub, tf5)
		})
	}
}

func TestParseConfig(t *testing.T) {
	base := `"vocab_size": 100, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4`
	cases := []struct {
		name  string
		json  string
		check func(t *testing.T, c *Config)
		err   string
	}{
		{name: "llama defaults", json: `{"model_type":"llama",` + base + `}`, check: func(t *testing.T, c *Config) {
			require.Equal(t, 16, c.HeadDim)
			require.Equal(t, 4, c.NumKVHeads)
			require.Equal(t, 10000.0, c.RopeTheta)
			require.Equal(t, "default", c.Rope.Type)
			require.False(t, c.QKNorm)
			require.Equal(t, -1, c.BOSTokenID)
		}},
		{name: "qwen3 explicit head_dim, eos list", json: `{"model_type":"qwen3",` + base + `, "head_dim": 32, "num_key_value_heads": 2, "eos_token_id": [7, 9], "bos_token_id": 3}`, check: func(t *testing.T, c *Config) {
			require.Equal(t, 32, c.HeadDim)
			require.Equal(t, 2, c.NumKVHeads)
			require.True(t, c.QKNorm)
			require.Equal(t, []int{7, 9}, c.EOSTokenIDs)
			require.Equal(t, 3, c.BOSTokenID)
		}},
		{name: "llama3 rope scaling (hub spelling)", json: `{"model_type":"llama",` + base + `, "rope_theta": 500000.0, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}}`, check: func(t *testing.T, c *Config) {
			require.Equal(t, RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}, c.Rope)
			require.Equal(t, 500000.0, c.RopeTheta)
		}},
		{name: "llama3 rope scaling (transformers 5 spelling)", json: `{"model_type":"llama",` + base + `, "rope_parameters": {"rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}}`, check: func(t *testing.T, c *Config) {
			require.Equal(t, "llama3", c.Rope.Type)
			require.Equal(t, 500000.0, c.RopeTheta)
		}},
		{name: "unknown model_type", json: `{"model_type":"mistral",` + base + `}`, err: `model_type: "mistral" is not supported`},
		{name: "missing model_type", json: `{` + base + `}`, err: "model_type: missing"},
		{name: "architecture mismatch", json: `{"model_type":"llama","architectures":["LlamaForSequenceClassification"],` + base + `}`, err: `architectures: "LlamaForSequenceClassification"`},
		{name: "rope type yarn", json: `{"model_type":"llama",` + base + `, "rope_scaling": {"rope_type": "yarn", "factor": 4}}`, err: `rope type "yarn" is not supported`},
		{name: "llama3 without parameters", json: `{"model_type":"llama",` + base + `, "rope_scaling": {"rope_type": "llama3"}}`, err: "llama3 needs factor"},
		{name: "attention bias", json: `{"model_type":"llama",` + base + `, "attention_bias": true}`, err: "attention_bias"},
		{name: "sliding window", json: `{"model_type":"qwen3",` + base + `, "use_sliding_window": true}`, err: "use_sliding_window"},
		{name: "activation", json: `{"model_type":"llama",` + base + `, "hidden_act": "gelu"}`, err: `hidden_act: "gelu"`},
		{name: "gqa mismatch", json: `{"model_type":"llama",` + base + `, "num_key_value_heads": 3}`, err: "num_key_value_heads: 3"},
		{name: "missing width", json: `{"model_type":"llama", "vocab_size": 10}`, err: "hidden_size: missing"},
		{name: "bad eos", json: `{"model_type":"llama",` + base + `, "eos_token_id": "x"}`, err: "eos_token_id"},
		{name: "not JSON", json: `{"model_type":`, err: "invalid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(c.json))
			if requireErr(t, err, c.err) {
				c.check(t, cfg)
			}
		})
	}
}

// requireErr requires err to contain want, or to be nil when want is ""; it reports whether
// err is nil (the parsed value is then the case's to check).
func requireErr(t *testing.T, err error, want string) bool {
	t.Helper()
	if want != "" {
		require.ErrorContains(t, err, want)
		return false
	}
	require.NoError(t, err)
	return true
}

func TestLoadConfigNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	require.NoError(t, os.WriteFile(p, []byte(`{"model_type": "bert"}`), 0o644))
	_, err := LoadConfig(p)
	require.ErrorContains(t, err, p)
}
