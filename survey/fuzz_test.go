package survey

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"bufio"
)

// FuzzReadJSONL: no input makes the JSONL instrument loader panic.
func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"task": "Rate how important this is to you."}
{"template": "Rating: {rating}"}
{"text": "Being creative.", "level1": "Be creative", "value": "Self-direction: thought", "split": "train"}
`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ReadJSONL(bytes.NewReader(data), "fuzz")
	})
}

// An over-long line names the limit.
func TestReadJSONLLineTooLong(t *testing.T) {
	long := `{"task": "` + strings.Repeat("a", MaxJSONLine) + `"}`
	_, err := ReadJSONL(strings.NewReader(long), "long.jsonl")
	require := func(ok bool) {
		t.Helper()
		if !ok {
			t.Fatalf("error %v", err)
		}
	}
	require(err != nil && errors.Is(err, bufio.ErrTooLong))
	require(strings.Contains(err.Error(), "line 1: longer than the limit of 16777216 bytes a line"))
}
