package model

import (
	"encoding/json"
	"fmt"
	"math"
)

// GenerationConfigFile is the file of a checkpoint directory that holds its generation defaults.
const GenerationConfigFile = "generation_config.json"

// GenerationConfig is the part of a Hugging Face generation_config.json that valora reads: the
// special tokens generation stops at and the sampling defaults the checkpoint's authors chose.
// Fields absent from the file take transformers' defaults.
type GenerationConfig struct {
	BOSTokenID   int     // -1 when absent
	EOSTokenIDs  []int   // eos_token_id as a list (transformers stops at any of them)
	PadTokenID   int     // -1 when absent
	DoSample     bool    // false: greedy decoding, whatever the sampling fields say
	Temperature  float64 // default 1
	TopK         int     // default 50; 0 disables top-k
	TopP         float64 // default 1
	MaxNewTokens int     // 0 when absent
}

// ParseGenerationConfig parses generation_config.json bytes. Unknown fields are ignored; a field
// of the wrong type or out of range is an error that names it.
func ParseGenerationConfig(data []byte) (*GenerationConfig, error) {
	var r struct {
		BOSTokenID   json.RawMessage `json:"bos_token_id"`
		EOSTokenID   json.RawMessage `json:"eos_token_id"`
		PadTokenID   json.RawMessage `json:"pad_token_id"`
		DoSample     *bool           `json:"do_sample"`
		Temperature  *float64        `json:"temperature"`
		TopK         *int            `json:"top_k"`
		TopP         *float64        `json:"top_p"`
		MaxNewTokens *int            `json:"max_new_tokens"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("model: generation config: invalid JSON: %w", err)
	}
	g := &GenerationConfig{Temperature: 1, TopK: 50, TopP: 1}
	var err error
	if g.BOSTokenID, err = optionalInt(r.BOSTokenID, "bos_token_id"); err != nil {
		return nil, fmt.Errorf("model: generation config: %w", err)
	}
	if g.PadTokenID, err = optionalInt(r.PadTokenID, "pad_token_id"); err != nil {
		return nil, fmt.Errorf("model: generation config: %w", err)
	}
	if g.EOSTokenIDs, err = intOrList(r.EOSTokenID, "eos_token_id"); err != nil {
		return nil, fmt.Errorf("model: generation config: %w", err)
	}
	for _, id := range g.EOSTokenIDs {
		if id < 0 {
			return nil, fmt.Errorf("model: generation config: field eos_token_id: negative token id %d", id)
		}
	}
	if r.DoSample != nil {
		g.DoSample = *r.DoSample
	}
	if r.Temperature != nil {
		if t := *r.Temperature; t < 0 || math.IsInf(t, 0) || math.IsNaN(t) {
			return nil, fmt.Errorf("model: generation config: field temperature: %v, want finite and >= 0", t)
		}
		g.Temperature = *r.Temperature
	}
	if r.TopK != nil {
		if *r.TopK < 0 {
			return nil, fmt.Errorf("model: generation config: field top_k: %d, want >= 0", *r.TopK)
		}
		g.TopK = *r.TopK
	}
	if r.TopP != nil {
		if p := *r.TopP; !(p > 0 && p <= 1) {
			return nil, fmt.Errorf("model: generation config: field top_p: %v, want in (0, 1]", p)
		}
		g.TopP = *r.TopP
	}
	if r.MaxNewTokens != nil {
		if *r.MaxNewTokens < 0 {
			return nil, fmt.Errorf("model: generation config: field max_new_tokens: %d, want >= 0", *r.MaxNewTokens)
		}
		g.MaxNewTokens = *r.MaxNewTokens
	}
	return g, nil
}
