package survey

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

//go:embed instrument/builtin.json
var builtinJSON []byte

// Builtin returns the instrument embedded in this package (instrument/builtin.json, our own
// JSON format): 594 descriptions written for valora, 11 per level-1 value, split 7 train /
// 2 validation / 2 test per level-1 value in file order; 3 task prompts and 9 response
// templates. Each call returns a fresh copy.
func Builtin() (*Instrument, error) {
	return ReadJSON(bytes.NewReader(builtinJSON), "builtin")
}

// LoadFile reads an instrument file, choosing the format by content: a file ending in
// ".jsonl" is our JSONL format; a JSON object with the keys "train", "eval" or "test" is the
// authors' format (kvs_data_new.json); any other JSON object is our JSON format.
func LoadFile(path string) (*Instrument, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("survey: load %s: %w", path, err)
	}
	name := filepath.Base(path)
	if strings.HasSuffix(strings.ToLower(path), ".jsonl") {
		return ReadJSONL(bytes.NewReader(data), name)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("survey: load %s: not a JSON object: %w", path, err)
	}
	_, tr := keys["train"]
	_, ev := keys["eval"]
	_, te := keys["test"]
	if tr || ev || te {
		return ReadAuthors(bytes.NewReader(data), name)
	}
	return ReadJSON(bytes.NewReader(data), name)
}

// decodeStrict decodes one JSON value from r into v; a field v does not have is an error.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
