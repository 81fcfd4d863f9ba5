package tokenize

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// tokenizerJSON is the part of tokenizer.json valora reads.
type tokenizerJSON struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         *modelJSON      `json:"model"`
}

// Load reads dir/tokenizer.json and, when present, dir/tokenizer_config.json (BOS/EOS, whether
// to add them, the chat template, clean_up_tokenization_spaces). Only BPE models are supported;
// an unsupported model type, normalizer, pre-tokenizer, decoder or post-processor, or a
// malformed file, gives an error naming the file and the field.
func Load(dir string) (*Tokenizer, error) {
	return load(dir, func(name string) string { return filepath.Join(dir, name) }, os.ReadFile)
}

// LoadFS is Load from the directory dir of fsys ("." for its root), for tokenizers in an
// embed.FS, an archive or any other file system.
func LoadFS(fsys fs.FS, dir string) (*Tokenizer, error) {
	return load(dir, func(name string) string { return path.Join(dir, name) },
		func(p string) ([]byte, error) { return fs.ReadFile(fsys, p) })
}

// load reads the tokenizer files of dir: join gives a file's path, read its contents.
func load(dir string, join func(name string) string, read func(path string) ([]byte, error)) (tok *Tokenizer, err error) {
	tjPath := join("tokenizer.json")
	defer func() {
		if r := recover(); r != nil {
			tok, err = nil, fmt.Errorf("tokenize: load %s: internal error: %v", tjPath, r)
		}
	}()
	raw, err := read(tjPath)
	if err != nil {
		return nil, fmt.Errorf("tokenize: load %s: %w", dir, err)
	}
	var tj tokenizerJSON
	if err := json.Unmarshal(raw, &tj); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: %w", tjPath, err)
	}
	t := &Tokenizer{dir: dir, unkID: -1, bosID: -1, eosID: -1}
	if err := t.loadModel(tj.Model); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: %w", tjPath, err)
	}
	if err := t.loadAdded(tj.AddedTokens); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: %w", tjPath, err)
	}
	if t.normalizer, err = normalizers.build(tj.Normalizer); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: normalizer: %w", tjPath, err)
	}
	if t.preTok, err = preTokenizers.build(tj.PreTokenizer); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: pre_tokenizer: %w", tjPath, err)
	}
	var dec decoder
	if dec, err = decoders.build(tj.Decoder); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: decoder: %w", tjPath, err)
	}
	t.decoder = seqDecoder{dec}
	if t.post, err = t.buildPost(tj.PostProcessor); err != nil {
		return nil, fmt.Errorf("tokenize: load %s: post_processor: %w", tjPath, err)
	}
	if err := t.loadConfig(join("tokenizer_config.json"), read); err != nil {
		return nil, err
	}
	return t, nil
}
