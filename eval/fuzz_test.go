package eval

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzReadAITAStances: no input makes the AITA loader panic.
func FuzzReadAITAStances(f *testing.F) {
	if raw, err := os.ReadFile("testdata/aita_stances.jsonl"); err == nil {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ReadAITAStances(bytes.NewReader(data), "fuzz")
	})
}

// An over-long line names the limit.
func TestJSONLineTooLong(t *testing.T) {
	err := eachJSONLine(strings.NewReader(strings.Repeat("x", MaxJSONLine+1)), func(int, []byte) error { return nil })
	require.ErrorIs(t, err, bufio.ErrTooLong)
	require.ErrorContains(t, err, "line 1: longer than the limit of 67108864 bytes a line")
}
