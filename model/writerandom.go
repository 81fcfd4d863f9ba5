package model

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/valora-go/valora/internal/atomicfile"
)

// RandomCheckpointBytes is the disk space WriteRandom takes for a checkpoint of shape c with
// weights of dtype ("bfloat16", "float16" or "float32"), headers and config included.
func RandomCheckpointBytes(c Config, dtype string) (int64, error) {
	size, err := dtypeSize(dtype)
	if err != nil {
		return 0, err
	}
	half, tensors, ok := c.TensorBytes()
	if !ok {
		return 0, fmt.Errorf("model: config sizes out of bounds: %+v", c)
	}
	return half/2*int64(size) + int64(tensors)*256 + 1<<20, nil
}

// randomChunk is the number of values a worker of WriteRandom draws at a time.
const randomChunk = 1 << 20

// randomShardBytes bounds the weights of one shard WriteRandom writes (transformers' default
// max_shard_size is 5 GB).
var randomShardBytes int64 = 4 << 30

// WriteRandom writes a checkpoint of shape c into dir as transformers saves one: config.json
// and the weights as safetensors (model.safetensors, or shards of at most 4 GiB listed by
// model.safetensors.index.json), in dtype "bfloat16", "float16" or "float32". The weights are
// drawn uniformly with standard deviation 0.02 and the norms are ones, determined by seed. It
// streams tensor by tensor (a few MiB of memory whatever the size), writes each file under a
// temporary name and renames it, and writes config.json last: when dir already holds the
// same config.json (shape, dtype and seed) and weight files of the right sizes, nothing is
// written and reused is true. Load reads the result as any checkpoint, memory-mapped.
func WriteRandom(dir string, c Config, dtype string, seed uint64) (reused bool, err error) {
	if err := c.validateShape(); err != nil {
		return false, err
	}
	if err := c.checkBounds(); err != nil {
		return false, fmt.Errorf("model: random checkpoint: %w", err)
	}
	size, err := dtypeSize(dtype)
	if err != nil {
		return false, err
	}
	cfgJSON, err := randomConfigJSON(c, dtype, seed)
	if err != nil {
		return false, err
	}
	if _, err := ParseConfig(cfgJSON); err != nil {
		return false, fmt.Errorf("model: random checkpoint: the config does not load: %w", err)
	}
	specs := c.expected()
	slices.SortFunc(specs, func(a, b spec) int { return cmp.Compare(a.name, b.name) })
	// Shards: consecutive tensors (by name) up to randomShardBytes each.
	var shards [][]spec
	var cur int64
	for _, s := range specs {
		n := int64(size) * s.numel()
		if len(shards) == 0 || cur > 0 && cur+n > randomShardBytes {
			shards = append(shards, nil)
			cur = 0
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], s)
		cur += n
	}
	names := make([]string, len(shards))
	for i := range shards {
		names[i] = "model.safetensors"
		if len(shards) > 1 {
			names[i] = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		}
	}
	headers := make([][]byte, len(shards))
	sizes := make([]int64, len(shards))
	for i, sh := range shards {
		headers[i], sizes[i], err = safetensorsHeader(sh, dtype, size)
		if err != nil {
			return false, err
		}
	}
	cfgPath := filepath.Join(dir, "config.json")
	if old, err := os.ReadFile(cfgPath); err == nil && bytes.Equal(old, cfgJSON) {
		complete := true
		for i, n := range names {
			st, err := os.Stat(filepath.Join(dir, n))
			complete = complete && err == nil && st.Size() == sizes[i]
		}
		if complete {
			return true, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("model: random checkpoint: %w", err)
	}
	os.Remove(cfgPath) // written last: its absence marks an incomplete checkpoint
	bufs := make([][]byte, max(1, runtime.GOMAXPROCS(0)))
	for i := range bufs {
		bufs[i] = make([]byte, randomChunk*size)
	}
	weightMap := map[string]string{}
	var total int64
	for i, sh := range shards {
		path := filepath.Join(dir, names[i])
		if err := atomicfile.Write(path, func(w io.Writer) error {
			if _, err := w.Write(headers[i]); err != nil {
				return err
			}
			for _, s := range sh {
				if err := writeRandomTensor(w, s, dtype, seed, bufs); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return false, fmt.Errorf("model: random checkpoint: %w", err)
		}
		for _, s := range sh {
			weightMap[s.name] = names[i]
		}
		total += sizes[i] - int64(len(headers[i]))
	}
	if len(shards) > 1 {
		idx, err := json.MarshalIndent(map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap}, "", "  ")
		if err != nil {
			return false, err
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), idx); err != nil {
			return false, fmt.Errorf("model: random checkpoint: %w", err)
		}
	}
	if err := atomicfile.WriteFile(cfgPath, cfgJSON); err != nil {
		return false, fmt.Errorf("model: random checkpoint: %w", err)
	}
	return false, nil
}

// dtypeSize is the bytes per value of a config dtype name.
func dtypeSize(dtype string) (int, error) {
	switch dtype {
	case "bfloat16", "float16":
		return 2, nil
	case "float32":
		return 4, nil
	}
	return 0, fmt.Errorf("model: dtype %q, want bfloat16, float16 or float32", dtype)
}

// stDType is the safetensors name of a config dtype.
func stDType(dtype string) string {
	return map[string]string{"bfloat16": "BF16", "float16": "F16", "float32": "F32"}[dtype]
}

// randomConfigJSON is the config.json of a checkpoint of shape c written by WriteRandom.
func randomConfigJSON(c Config, dtype string, seed uint64) ([]byte, error) {
	arch := c.Architecture
	if arch == "" {
		arch = map[string]string{"llama": "LlamaForCausalLM", "qwen3": "Qwen3ForCausalLM"}[c.ModelType]
	}
	cfg := map[string]any{
		"architectures": []string{arch}, "model_type": c.ModelType, "vocab_size": c.VocabSize,
		"hidden_size": c.HiddenSize, "intermediate_size": c.IntermediateSize, "num_hidden_layers": c.NumLayers,
		"num_attention_heads": c.NumHeads, "num_key_value_heads": c.NumKVHeads, "head_dim": c.HeadDim,
		"rms_norm_eps": c.RMSNormEps, "rope_theta": c.RopeTheta, "max_position_embeddings": c.MaxPositions,
		"tie_word_embeddings": c.TieWordEmbeddings, "torch_dtype": dtype, "hidden_act": "silu",
		"attention_bias": false, "rope_scaling": nil, "valora_random_seed": seed,
	}
	if c.ModelType == "llama" {
		cfg["mlp_bias"] = false
	}
	if c.Rope.Type == "llama3" {
		cfg["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": c.Rope.Factor,
			"low_freq_factor": c.Rope.LowFreqFactor, "high_freq_factor": c.Rope.HighFreqFactor,
			"original_max_position_embeddings": c.Rope.OriginalMaxPositions}
	}
	if c.BOSTokenID >= 0 {
		cfg["bos_token_id"] = c.BOSTokenID
	}
	switch len(c.EOSTokenIDs) {
	case 0:
	case 1:
		cfg["eos_token_id"] = c.EOSTokenIDs[0]
	default:
		cfg["eos_token_id"] = c.EOSTokenIDs
	}
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("model: random checkpoint config: %w", err)
	}
	return append(raw, '\n'), nil
}
