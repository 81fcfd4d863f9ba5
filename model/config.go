package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Config is the part of a Hugging Face config.json that the forward pass needs.
type Config struct {
	Architecture      string  // "LlamaForCausalLM" or "Qwen3ForCausalLM"
	ModelType         string  // "llama" or "qwen3"
	VocabSize         int     // rows of the embedding and the LM head
	HiddenSize        int     // model width
	IntermediateSize  int     // MLP width
	NumLayers         int     // decoder layers
	NumHeads          int     // query heads
	NumKVHeads        int     // key/value heads (grouped-query attention)
	HeadDim           int     // per-head width (explicit head_dim, else hidden/heads)
	RMSNormEps        float64 // epsilon of every RMSNorm
	RopeTheta         float64 // RoPE base
	Rope              RopeScaling
	MaxPositions      int    // max_position_embeddings
	TieWordEmbeddings bool   // LM head shares the embedding matrix
	DType             string // torch dtype named by the config ("float32", "bfloat16", ...)
	BOSTokenID        int    // -1 when absent
	EOSTokenIDs       []int  // eos_token_id as a list
	QKNorm            bool   // per-head RMSNorm of q and k before RoPE (Qwen3)
}

// RopeScaling describes rope_scaling / rope_parameters. Type is "default" or "llama3".
type RopeScaling struct {
	Type                 string
	Factor               float64
	LowFreqFactor        float64
	HighFreqFactor       float64
	OriginalMaxPositions int
}

// rawConfig mirrors config.json in both spellings: the hub's (rope_theta, rope_scaling,
// torch_dtype) and transformers 5's (rope_parameters, dtype).
type rawConfig struct {
	Architectures         []string        `json:"architectures"`
	ModelType             string          `json:"model_type"`
	VocabSize             *int            `json:"vocab_size"`
	HiddenSize            *int            `json:"hidden_size"`
	IntermediateSize      *int            `json:"intermediate_size"`
	NumHiddenLayers       *int            `json:"num_hidden_layers"`
	NumAttentionHeads     *int            `json:"num_attention_heads"`
	NumKeyValueHeads      *int            `json:"num_key_value_heads"`
	HeadDim               *int            `json:"head_dim"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	RopeTheta             *float64        `json:"rope_theta"`
	RopeScaling           json.RawMessage `json:"rope_scaling"`
	RopeParameters        json.RawMessage `json:"rope_parameters"`
	MaxPositionEmbeddings int             `json:"max_position_embeddings"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	TorchDType            string          `json:"torch_dtype"`
	DType                 string          `json:"dtype"`
	HiddenAct             string          `json:"hidden_act"`
	AttentionBias         bool            `json:"attention_bias"`
	MLPBias               bool            `json:"mlp_bias"`
	BOSTokenID            json.RawMessage `json:"bos_token_id"`
	EOSTokenID            json.RawMessage `json:"eos_token_id"`
	UseSlidingWindow      bool            `json:"use_sliding_window"`
	SlidingWindow         json.RawMessage `json:"sliding_window"`
	LayerTypes            []string        `json:"layer_types"`
	PretrainingTP         int             `json:"pretraining_tp"`
}

type rawRope struct {
	RopeType                      string   `json:"rope_type"`
	Type                          string   `json:"type"` // older spelling
	RopeTheta                     *float64 `json:"rope_theta"`
	Factor                        *float64 `json:"factor"`
	LowFreqFactor                 *float64 `json:"low_freq_factor"`
	HighFreqFactor                *float64 `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings *int     `json:"original_max_position_embeddings"`
}

// LoadConfig reads and validates a config.json.
func LoadConfig(path string) (*Config, error) { return readConfig(os.ReadFile, path) }

// readConfig reads the config.json at path with read and validates it.
func readConfig(read func(path string) ([]byte, error), path string) (*Config, error) {
	data, err := read(path)
	if err != nil {
		return nil, fmt.Errorf("model: config %s: %w", path, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("model: config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses config.json bytes. Unsupported features (architecture, rope type,
// attention bias, sliding window, activation...) are errors that name them.
func ParseConfig(data []byte) (*Config, error) {
	var r rawConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	c := &Config{ModelType: r.ModelType, BOSTokenID: -1, MaxPositions: r.MaxPositionEmbeddings}
	switch r.ModelType {
	case "llama":
		c.Architecture = "LlamaForCausalLM"
	case "qwen3":
		c.Architecture = "Qwen3ForCausalLM"
		c.QKNorm = true
	case "":
		return nil, fmt.Errorf("field model_type: missing (supported: llama, qwen3)")
	default:
		return nil, fmt.Errorf("field model_type: %q is not supported (supported: llama, qwen3)", r.ModelType)
	}
	if len(r.Architectures) > 0 && r.Architectures[0] != c.Architecture {
		return nil, fmt.Errorf("field architectures: %q is not supported for model_type %q (want %s)", r.Architectures[0], r.ModelType, c.Architecture)
	}
	need := []struct {
		name string
		v    *int
		dst  *int
	}{
		{"vocab_size", r.VocabSize, &c.VocabSize},
		{"hidden_size", r.HiddenSize, &c.HiddenSize},
		{"intermediate_size", r.IntermediateSize, &c.IntermediateSize},
		{"num_hidden_layers", r.NumHiddenLayers, &c.NumLayers},
		{"num_attention_heads", r.NumAttentionHeads, &c.NumHeads},
	}
	for _, f := range need {
		if f.v == nil {
			return nil, fmt.Errorf("field %s: missing", f.name)
		}
		if *f.v <= 0 {
			return nil, fmt.Errorf("field %s: %d, want a positive integer", f.name, *f.v)
		}
		*f.dst = *f.v
	}
	c.NumKVHeads = c.NumHeads
	if r.NumKeyValueHeads != nil {
		c.NumKVHeads = *r.NumKeyValueHeads
	}
	if c.NumKVHeads <= 0 || c.NumHeads%c.NumKVHeads != 0 {
		return nil, fmt.Errorf("field num_key_value_heads: %d does not divide num_attention_heads %d", c.NumKVHeads, c.NumHeads)
	}
	if r.HeadDim != nil {
		c.HeadDim = *r.HeadDim
	} else {
		if c.HiddenSize%c.NumHeads != 0 {
			return nil, fmt.Errorf("field hidden_size: %d is not a multiple of num_attention_heads %d and head_dim is not given", c.HiddenSize, c.NumHeads)
		}
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	if c.HeadDim <= 0 || c.HeadDim%2 != 0 {
		return nil, fmt.Errorf("field head_dim: %d, want a positive even integer", c.HeadDim)
	}
	if err := c.checkBounds(); err != nil {
		return nil, err
	}
	c.RMSNormEps = 1e-6
	if r.RMSNormEps != nil {
		c.RMSNormEps = *r.RMSNormEps
	}
	if !(c.RMSNormEps > 0 && c.RMSNormEps < 1) || float32(c.RMSNormEps) == 0 {
		return nil, fmt.Errorf("field rms_norm_eps: %v, want a finite number in (0, 1) that is not 0 in float32", c.RMSNormEps)
	}
	if r.MaxPositionEmbeddings < 0 || r.MaxPositionEmbeddings > maxPositions {
		return nil, fmt.Errorf("field max_position_embeddings: %d, want 0..%d", r.MaxPositionEmbeddings, maxPositions)
	}
	if r.HiddenAct != "" && r.HiddenAct != "silu" {
		return nil, fmt.Errorf("field hidden_act: %q is not supported (only silu)", r.HiddenAct)
	}
	if r.AttentionBias {
		return nil, fmt.Errorf("field attention_bias: true is not supported")
	}
	if r.MLPBias {
		return nil, fmt.Errorf("field mlp_bias: true is not supported")
	}
	if r.UseSlidingWindow {
		return nil, fmt.Errorf("field use_sliding_window: true is not supported")
	}
	if r.ModelType == "llama" && len(r.SlidingWindow) > 0 && string(r.SlidingWindow) != "null" {
		return nil, fmt.Errorf("field sliding_window: %s is not supported", r.SlidingWindow)
	}
	for i, lt := range r.LayerTypes {
		if lt != "full_attention" {
			return nil, fmt.Errorf("field layer_types[%d]: %q is not supported (only full_attention)", i, lt)
		}
	}
	if r.PretrainingTP > 1 {
		return nil, fmt.Errorf("field pretraining_tp: %d is not supported", r.PretrainingTP)
	}
	c.TieWordEmbeddings = r.TieWordEmbeddings != nil && *r.TieWordEmbeddings
	c.DType = r.DType
	if c.DType == "" {
		c.DType = r.TorchDType
	}
	switch strings.TrimPrefix(c.DType, "torch.") {
	case "", "float32", "bfloat16", "float16":
	default:
		return nil, fmt.Errorf("field dtype: %q is not supported (float32, bfloat16, float16)", c.DType)
	}
	var err error
	if c.BOSTokenID, err = optionalInt(r.BOSTokenID, "bos_token_id"); err != nil {
		return nil, err
	}
	if c.EOSTokenIDs, err = intOrList(r.EOSTokenID, "eos_token_id"); err != nil {
		return nil, err
	}
	if len(c.EOSTokenIDs) > 1024 {
		return nil, fmt.Errorf("field eos_token_id: %d ids, want at most 1024", len(c.EOSTokenIDs))
	}
	for _, id := range append([]int{c.BOSTokenID}, c.EOSTokenIDs...) {
		if id < -1 || id >= c.VocabSize {
			return nil, fmt.Errorf("field bos_token_id/eos_token_id: id %d outside the vocabulary of %d", id, c.VocabSize)
		}
	}
	if err := c.parseRope(r); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) parseRope(r rawConfig) error {
	c.Rope = RopeScaling{Type: "default"}
	c.RopeTheta = 10000
	if r.RopeTheta != nil {
		c.RopeTheta = *r.RopeTheta
	}
	if err := c.checkRopeTheta("rope_theta"); err != nil {
		return err
	}
	field := "rope_scaling"
	raw := r.RopeScaling
	if len(r.RopeParameters) > 0 && string(r.RopeParameters) != "null" {
		field, raw = "rope_parameters", r.RopeParameters
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var rr rawRope
	if err := json.Unmarshal(raw, &rr); err != nil {
		return fmt.Errorf("field %s: %w", field, err)
	}
	if rr.RopeTheta != nil {
		c.RopeTheta = *rr.RopeTheta
	}
	if err := c.checkRopeTheta(field + ".rope_theta"); err != nil {
		return err
	}
	typ := rr.RopeType
	if typ == "" {
		typ = rr.Type
	}
	switch typ {
	case "", "default":
		return nil
	case "llama3":
		if rr.Factor == nil || rr.LowFreqFactor == nil || rr.HighFreqFactor == nil || rr.OriginalMaxPositionEmbeddings == nil {
			return fmt.Errorf("field %s: rope type llama3 needs factor, low_freq_factor, high_freq_factor and original_max_position_embeddings", field)
		}
		c.Rope = RopeScaling{Type: "llama3", Factor: *rr.Factor, LowFreqFactor: *rr.LowFreqFactor,
			HighFreqFactor: *rr.HighFreqFactor, OriginalMaxPositions: *rr.OriginalMaxPositionEmbeddings}
		for _, f := range []struct {
			name string
			v    float64
		}{{"factor", c.Rope.Factor}, {"low_freq_factor", c.Rope.LowFreqFactor}, {"high_freq_factor", c.Rope.HighFreqFactor}} {
			if !(f.v > 0 && f.v < 1e9) {
				return fmt.Errorf("field %s.%s: %v, want a finite positive number", field, f.name, f.v)
			}
		}
		if c.Rope.OriginalMaxPositions > maxPositions {
			return fmt.Errorf("field %s.original_max_position_embeddings: %d, want at most %d", field, c.Rope.OriginalMaxPositions, maxPositions)
		}
		if c.Rope.Factor <= 0 || c.Rope.HighFreqFactor <= c.Rope.LowFreqFactor || c.Rope.OriginalMaxPositions <= 0 {
			return fmt.Errorf("field %s: invalid llama3 parameters %+v", field, c.Rope)
		}
		return nil
	}
	return fmt.Errorf("field %s: rope type %q is not supported (default, llama3)", field, typ)
}

func optionalInt(raw json.RawMessage, field string) (int, error) {
	ids, err := intOrList(raw, field)
	if err != nil {
		return -1, err
	}
	if len(ids) == 0 {
		return -1, nil
	}
	return ids[0], nil
}

func intOrList(raw json.RawMessage, field string) ([]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("field %s: %s is neither an integer nor a list of integers", field, raw)
	}
	return many, nil
}

// Bounds on config sizes: far above any supported checkpoint, low enough that the products
// below cannot overflow and that nothing is allocated from an absurd config before the weights
// are checked against it.
const (
	maxVocab     = 1 << 22
	maxWidth     = 1 << 20 // hidden_size, intermediate_size, num_heads*head_dim
	maxLayers    = 1 << 12
	maxHeads     = 1 << 12
	maxHeadDim   = 1 << 14
	maxPositions = 1 << 24
)

// checkBounds bounds every size of c and checks the products the loader and the forward pass
// compute (overflow-safe: each factor is bounded first).
func (c *Config) checkBounds() error {
	for _, f := range []struct {
		name  string
		v, hi int
	}{
		{"vocab_size", c.VocabSize, maxVocab}, {"hidden_size", c.HiddenSize, maxWidth},
		{"intermediate_size", c.IntermediateSize, maxWidth}, {"num_hidden_layers", c.NumLayers, maxLayers},
		{"num_attention_heads", c.NumHeads, maxHeads}, {"num_key_value_heads", c.NumKVHeads, maxHeads},
		{"head_dim", c.HeadDim, maxHeadDim},
	} {
		if f.v <= 0 || f.v > f.hi {
			return fmt.Errorf("field %s: %d, want 1..%d", f.name, f.v, f.hi)
		}
	}
	if q := c.NumHeads * c.HeadDim; q > maxWidth {
		return fmt.Errorf("fields num_attention_heads %d x head_dim %d: %d, want at most %d", c.NumHeads, c.HeadDim, q, maxWidth)
	}
	return nil
}

func (c *Config) checkRopeTheta(field string) error {
	if !(c.RopeTheta > 1 && c.RopeTheta < 1e30) {
		return fmt.Errorf("field %s: %v, want a finite number greater than 1", field, c.RopeTheta)
	}
	return nil
}

// TensorBytes is the smallest number of bytes the weights c implies can take (2 bytes a value,
// BF16 or F16), and the number of tensors; ok is false when the sizes are out of bounds.
func (c *Config) TensorBytes() (bytes int64, tensors int, ok bool) {
	if c.checkBounds() != nil {
		return 0, 0, false
	}
	h := int64(c.HiddenSize)
	n := int64(c.VocabSize) * h
	if !c.TieWordEmbeddings {
		n *= 2
	}
	n += h
	per := 2 * h // the layer's two norms; Qwen3's q/k norms below
	if c.QKNorm {
		per += 2 * int64(c.HeadDim)
	}
	for p := Proj(0); p < NumProj; p++ {
		s := c.ProjShape(p)
		per += int64(s[0]) * int64(s[1])
	}
	n += per * int64(c.NumLayers)
	tensors = 2 + 9*c.NumLayers
	if c.QKNorm {
		tensors += 2 * c.NumLayers
	}
	if !c.TieWordEmbeddings {
		tensors++
	}
	return 2 * n, tensors, true
}
