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
	var r rawGeneration
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("model: generation config: invalid JSON: %w", err)
	}
	g, err := r.decode()
	if err != nil {
		return nil, fmt.Errorf("model: generation config: %w", err)
	}
	return g, nil
}

// rawGeneration is generation_config.json as written: absent fields are nil.
type rawGeneration struct {
	BOSTokenID   json.RawMessage `json:"bos_token_id"`
	EOSTokenID   json.RawMessage `json:"eos_token_id"`
	PadTokenID   json.RawMessage `json:"pad_token_id"`
	DoSample     *bool           `json:"do_sample"`
	Temperature  *float64        `json:"temperature"`
	TopK         *int            `json:"top_k"`
	TopP         *float64        `json:"top_p"`
	MaxNewTokens *int            `json:"max_new_tokens"`
}

// decode checks the fields present and fills in transformers' defaults for the others.
func (r *rawGeneration) decode() (*GenerationConfig, error) {
	g := &GenerationConfig{Temperature: 1, TopK: 50, TopP: 1}
	var err error
	if g.BOSTokenID, err = optionalInt(r.BOSTokenID, "bos_token_id"); err != nil {
		return nil, err
	}
	if g.PadTokenID, err = optionalInt(r.PadTokenID, "pad_token_id"); err != nil {
		return nil, err
	}
	if g.EOSTokenIDs, err = intOrList(r.EOSTokenID, "eos_token_id"); err != nil {
		return nil, err
	}
	for _, id := range g.EOSTokenIDs {
		if id < 0 {
			return nil, fmt.Errorf("field eos_token_id: negative token id %d", id)
		}
	}
	if r.DoSample != nil {
		g.DoSample = *r.DoSample
	}
	for _, err := range []error{
		setField(&g.Temperature, r.Temperature, "temperature", func(t float64) bool {
			return t >= 0 && !math.IsInf(t, 0) && !math.IsNaN(t)
		}, "finite and >= 0"),
		setField(&g.TopK, r.TopK, "top_k", func(k int) bool { return k >= 0 }, ">= 0"),
		setField(&g.TopP, r.TopP, "top_p", func(p float64) bool { return p > 0 && p <= 1 }, "in (0, 1]"),
		setField(&g.MaxNewTokens, r.MaxNewTokens, "max_new_tokens", func(n int) bool { return n >= 0 }, ">= 0"),
	} {
		if err != nil {
			return nil, err
		}
	}
	return g, nil
}

// setField sets *dst to the value of a field present in the file (v not nil) if valid accepts
// it; want describes the valid values in the error.
func setField[T any](dst, v *T, field string, valid func(T) bool, want string) error {
	if v == nil {
		return nil
	}
	if !valid(*v) {
		return fmt.Errorf("field %s: %v, want %s", field, *v, want)
	}
	*dst = *v
	return nil
}
