package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/examples/internal/clitest"
)

// The greedy continuations of stories260k equal transformers' from text, not ids.
func TestGenerateMatchesReference(t *testing.T) {
	var g struct {
		Prompts []struct {
			Text         string `json:"text"`
			IDs          []int  `json:"ids"`
			Greedy48     []int  `json:"greedy48"`
			Greedy48Text string `json:"greedy48_text"`
		} `json:"prompts"`
	}
	clitest.ReadJSON(t, "../../testdata/stories260k_goldens.json", &g)
	require.NotEmpty(t, g.Prompts)
	for _, p := range g.Prompts {
		out := clitest.OK(t, run, "-model", "../../testdata/stories260k", "-prompt", p.Text, "-n", "48", "-stop-at-eos=false")
		require.Equal(t, p.Greedy48Text, strings.TrimSuffix(out.Stdout, "\n"), "prompt %q", p.Text)
	}
}

func TestGenerateBadModelDir(t *testing.T) {
	clitest.Fails(t, run, 1, "config.json", "-model", t.TempDir(), "-tokenizer", "../../testdata/stories260k")
}
