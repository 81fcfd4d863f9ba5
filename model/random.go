package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/valora-go/valora/internal/atomicfile"
	"github.com/valora-go/valora/internal/kern"
)

// Qwen3_0_6BConfig returns the shape of Qwen/Qwen3-0.6B, for benchmarks with Random (a fresh
// value each call: callers may change it freely).
func Qwen3_0_6BConfig() Config {
	return Config{
		Architecture: "Qwen3ForCausalLM", ModelType: "qwen3", VocabSize: 151936, HiddenSize: 1024,
		IntermediateSize: 3072, NumLayers: 28, NumHeads: 16, NumKVHeads: 8, HeadDim: 128,
		RMSNormEps: 1e-6, RopeTheta: 1e6, Rope: RopeScaling{Type: "default"}, MaxPositions: 40960,
		TieWordEmbeddings: true, QKNorm: true, BOSTokenID: -1, DType: "float32",
	}
}

// Random builds an in-memory float32 model of the given shape with weights drawn from
// N(0, 0.02²) and unit norms, seeded: for benchmarks and tests that need a model of a real
// shape without its checkpoint.
func Random(c Config, seed uint64) (*Model, error) {
	if err := c.validateShape(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	mat := func(rows, cols int) *kern.Weight {
		w := &kern.Weight{Rows: rows, Cols: cols, DType: kern.F32, F32: make([]float32, rows*cols)}
		for i := range w.F32 {
			w.F32[i] = float32(rng.NormFloat64() * 0.02)
		}
		return w
	}
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	m := &Model{Config: c, Embed: mat(c.VocabSize, c.HiddenSize), Norm: ones(c.HiddenSize)}
	m.LMHead = m.Embed
	if !c.TieWordEmbeddings {
		m.LMHead = mat(c.VocabSize, c.HiddenSize)
	}
	m.Layers = make([]Layer, c.NumLayers)
	for l := range m.Layers {
		L := &m.Layers[l]
		L.InputNorm, L.PostNorm = ones(c.HiddenSize), ones(c.HiddenSize)
		if c.QKNorm {
			L.QNorm, L.KNorm = ones(c.HeadDim), ones(c.HeadDim)
		}
		for p := range NumProj {
			s := c.ProjShape(p)
			L.Proj[p] = mat(s[0], s[1])
		}
	}
	if err := m.initRope(); err != nil {
		return nil, err
	}
	return m, nil
}

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
	sort.Slice(specs, func(i, j int) bool { return specs[i].name < specs[j].name })
	// Shards: consecutive tensors (by name) up to randomShardBytes each.
	var shards [][]spec
	var cur int64
	for _, s := range specs {
		n := int64(size)
		for _, d := range s.shape {
			n *= int64(d)
		}
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

// safetensorsHeader is the header (length prefix included, padded so that the data starts
// 64-byte aligned) of a file holding specs in order, and the file's size.
func safetensorsHeader(specs []spec, dtype string, size int) ([]byte, int64, error) {
	type entry struct {
		DType   string  `json:"dtype"`
		Shape   []int   `json:"shape"`
		Offsets []int64 `json:"data_offsets"`
	}
	h := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var off int64
	for _, s := range specs {
		n := int64(size)
		for _, d := range s.shape {
			n *= int64(d)
		}
		h[s.name] = entry{stDType(dtype), s.shape, []int64{off, off + n}}
		off += n
	}
	raw, err := json.Marshal(h)
	if err != nil {
		return nil, 0, err
	}
	for (8+len(raw))%64 != 0 {
		raw = append(raw, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(raw)))
	out = append(out, raw...)
	return out, int64(len(out)) + off, nil
}

// writeRandomTensor writes the values of one tensor: ones for a norm (1-D), else uniform
// values of standard deviation 0.02, generated in parallel in chunks whose streams depend
// only on seed, the tensor's name and the chunk's index.
func writeRandomTensor(w io.Writer, s spec, dtype string, seed uint64, bufs [][]byte) error {
	n := 1
	for _, d := range s.shape {
		n *= d
	}
	size, _ := dtypeSize(dtype)
	h := fnv.New64a()
	h.Write([]byte(s.name))
	stream := h.Sum64()
	workers := len(bufs)
	scale := float32(0.02 * math.Sqrt(3))
	encode := func(dst []byte, v float32) {
		switch dtype {
		case "bfloat16":
			binary.LittleEndian.PutUint16(dst, kern.F32ToBF16(v))
		case "float16":
			binary.LittleEndian.PutUint16(dst, kern.F32ToF16(v))
		default:
			binary.LittleEndian.PutUint32(dst, math.Float32bits(v))
		}
	}
	for c0 := 0; c0 < n; c0 += randomChunk * workers {
		var wg sync.WaitGroup
		lens := make([]int, workers)
		for k := range workers {
			lo := c0 + k*randomChunk
			if lo >= n {
				break
			}
			cnt := min(randomChunk, n-lo)
			lens[k] = cnt
			wg.Add(1)
			go func(buf []byte, idx uint64) {
				defer wg.Done()
				if len(s.shape) == 1 {
					for i := range cnt {
						encode(buf[i*size:], 1)
					}
					return
				}
				pcg := rand.NewPCG(seed^stream, idx)
				for i := 0; i < cnt; i += 2 {
					r := pcg.Uint64()
					for j, bits := range [2]uint32{uint32(r), uint32(r >> 32)} {
						if i+j < cnt {
							u := float32(bits>>8) * (1.0 / (1 << 24)) // [0, 1)
							encode(buf[(i+j)*size:], (2*u-1)*scale)
						}
					}
				}
			}(bufs[k], uint64(lo/randomChunk))
		}
		wg.Wait()
		for k := 0; k < workers && lens[k] > 0; k++ { // in order
			if _, err := w.Write(bufs[k][:lens[k]*size]); err != nil {
				return err
			}
		}
	}
	return nil
}
