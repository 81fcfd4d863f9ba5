package tokenize

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
)

// loadConfig reads tokenizer_config.json: bos/eos tokens, add_bos_token / add_eos_token (which,
// when present, decide the special tokens added by Encode as transformers' Llama tokenizers
// do), clean_up_tokenization_spaces and chat_template. A missing file is not an error.
func (t *Tokenizer) loadConfig(path string, read func(string) ([]byte, error)) error {
	raw, err := read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tokenize: load %s: %w", path, err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("tokenize: load %s: %w", path, err)
	}
	t.config = cfg
	tokenField := func(key string) (string, int, error) {
		v, ok := cfg[key]
		if !ok || v == nil {
			return "", -1, nil
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case map[string]any:
			c, ok := x["content"].(string)
			if !ok {
				return "", -1, fmt.Errorf("tokenize: load %s: field %s: want a string or {content: string}", path, key)
			}
			s = c
		default:
			return "", -1, fmt.Errorf("tokenize: load %s: field %s: want a string, got %T", path, key, v)
		}
		id, ok := t.TokenID(s)
		if !ok {
			return "", -1, fmt.Errorf("tokenize: load %s: field %s: token %q is not in the vocabulary", path, key, s)
		}
		return s, id, nil
	}
	if t.bosTok, t.bosID, err = tokenField("bos_token"); err != nil {
		return err
	}
	if t.eosTok, t.eosID, err = tokenField("eos_token"); err != nil {
		return err
	}
	boolField := func(key string) (bool, bool, error) {
		v, ok := cfg[key]
		if !ok || v == nil {
			return false, false, nil
		}
		b, ok := v.(bool)
		if !ok {
			return false, false, fmt.Errorf("tokenize: load %s: field %s: want true or false, got %v", path, key, v)
		}
		return b, true, nil
	}
	addBOS, hasBOS, err := boolField("add_bos_token")
	if err != nil {
		return err
	}
	addEOS, hasEOS, err := boolField("add_eos_token")
	if err != nil {
		return err
	}
	if hasBOS || hasEOS {
		var p postProcessor
		if addBOS && t.bosID >= 0 {
			p.prefix = []int{t.bosID}
		}
		if addEOS && t.eosID >= 0 {
			p.suffix = []int{t.eosID}
		}
		t.post = p
	}
	if t.cleanUp, _, err = boolField("clean_up_tokenization_spaces"); err != nil {
		return err
	}
	if ct, ok := cfg["chat_template"]; ok && ct != nil {
		src, err := chatTemplateSource(ct)
		if err != nil {
			return fmt.Errorf("tokenize: load %s: field chat_template: %w", path, err)
		}
		if t.chat, err = compileChatTemplate(src); err != nil {
			return fmt.Errorf("tokenize: load %s: field chat_template: %w", path, err)
		}
	}
	return nil
}
