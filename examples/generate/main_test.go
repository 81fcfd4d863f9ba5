package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The greedy continuations of stories260k equal transformers' from text, not ids.
func TestGenerateMatchesReference(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/stories260k_goldens.json")
	require.NoError(t, err)
	var g struct {
		Prompts []struct {
			Text         string `json:"text"`
			IDs          []int  `json:"ids"`
			Greedy48     []int  `json:"greedy48"`
			Greedy48Text string `json:"greedy48_text"`
		} `json:"prompts"`
	}
	require.NoError(t, json.Unmarshal(raw, &g))
	require.NotEmpty(t, g.Prompts)
	for _, p := range g.Prompts {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"-model", "../../testdata/stories260k", "-prompt", p.Text,
			"-n", "48", "-stop-at-eos=false"}, &out, &errb)
		require.Equal(t, 0, code, errb.String())
		require.Equal(t, p.Greedy48Text, strings.TrimSuffix(out.String(), "\n"), "prompt %q", p.Text)
	}
}

func TestGenerateBadModelDir(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-model", t.TempDir(), "-tokenizer", "../../testdata/stories260k"}, &out, &errb)
	require.Equal(t, 1, code)
	require.Contains(t, errb.String(), "config.json")
}
