package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/examples/internal/clitest"
	"github.com/valora-go/valora/model"
)

const stories = "../../testdata/stories260k"

// decodeOrdered reads a flat JSON object of numbers, keeping the key order.
func decodeOrdered(t *testing.T, s string) (keys []string, vals []float64) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	tk, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tk)
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		var v float64
		require.NoError(t, dec.Decode(&v))
		keys = append(keys, k.(string))
		vals = append(vals, v)
	}
	return keys, vals
}

// library computes the same probabilities through the eval/score API.
func library(t *testing.T, modelDir, adapterDir string, p score.Prompt, cands []string) []float64 {
	t.Helper()
	m, err := model.Load(modelDir)
	require.NoError(t, err)
	defer m.Close()
	lp, err := clitest.Scorer(t, m, stories, adapterDir).LogProbs(context.Background(), []score.Prompt{p}, [][]string{cands})
	require.NoError(t, err)
	return score.Normalize(lp[0], 1)
}

func TestScore(t *testing.T) {
	promptFile := filepath.Join(t.TempDir(), "prompt.txt")
	require.NoError(t, os.WriteFile(promptFile, []byte("Lily went to the park.\n"), 0o644))
	// " happy" is one token, " sad" two, " ballerina" five.
	cands := []string{" happy", " sad", " ballerina"}
	prompt := score.Prompt{Text: "Lily went to the park.", Prefix: " She was"}
	llamaTiny := "../../testdata/llama-tiny"
	cases := []struct {
		name  string
		args  []string
		model string
		ad    string
	}{
		{"prompt", []string{"-model", stories, "-prompt", "Lily went to the park."}, stories, ""},
		{"prompt file", []string{"-model", stories, "-prompt-file", promptFile}, stories, ""},
		// llama-tiny (random weights, same vocabulary size) with its PEFT adapter.
		{"adapter", []string{"-model", llamaTiny + "/model", "-tokenizer", stories, "-adapter", llamaTiny + "/adapter",
			"-prompt", "Lily went to the park."}, llamaTiny + "/model", llamaTiny + "/adapter"},
	}
	var withAdapter, without []float64
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := clitest.OK(t, run, append(tc.args, "-prefix", " She was", "-candidates", " happy, sad, ballerina")...)
			keys, vals := decodeOrdered(t, out.Stdout)
			require.Equal(t, cands, keys)
			var sum float64
			for _, v := range vals {
				require.Greater(t, v, 0.0)
				sum += v
			}
			require.InDelta(t, 1, sum, 1e-12)
			require.InDeltaSlice(t, library(t, tc.model, tc.ad, prompt, cands), vals, 1e-12)
			if tc.ad != "" {
				withAdapter = vals
				without = library(t, tc.model, "", prompt, cands)
			}
		})
	}
	require.NotNil(t, withAdapter)
	require.Greater(t, maxDiff(withAdapter, without), 1e-4, "the adapter changes the probabilities")
}

func maxDiff(a, b []float64) float64 {
	var d float64
	for i := range a {
		d = max(d, a[i]-b[i], b[i]-a[i])
	}
	return d
}

func TestScoreErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"-model", stories, "-nope"}, 2, "flag provided but not defined: -nope"},
		{"no model", []string{"-prompt", "x", "-candidates", "a"}, 2, "-model is required"},
		{"no prompt", []string{"-model", stories, "-candidates", "a"}, 2, "-prompt or -prompt-file is required"},
		{"two prompts", []string{"-model", stories, "-prompt", "x", "-prompt-file", "f", "-candidates", "a"}, 2, "not both"},
		{"no candidates", []string{"-model", stories, "-prompt", "x"}, 2, "-candidates is required"},
		{"empty candidate", []string{"-model", stories, "-prompt", "x", "-candidates", " a,, b"}, 2, "candidate 2 is empty"},
		{"duplicate candidate", []string{"-model", stories, "-prompt", "x", "-candidates", " a, a"}, 2, `" a" given twice`},
		{"extra argument", []string{"-model", stories, "-prompt", "x", "-candidates", " a", "more"}, 2, "unexpected arguments"},
		{"missing model dir", []string{"-model", filepath.Join(t.TempDir(), "none"), "-tokenizer", stories, "-prompt", "x", "-candidates", " a"},
			1, "config.json"},
		{"missing prompt file", []string{"-model", stories, "-prompt-file", filepath.Join(t.TempDir(), "p.txt"), "-candidates", " a"},
			1, "p.txt"},
		{"chat without template", []string{"-model", stories, "-chat", "-prompt", "x", "-candidates", " a"}, 1, "no chat_template"},
		{"prompt ends inside a token", []string{"-model", stories, "-prompt", "The ca", "-candidates", "t,r"}, 1,
			`candidate "t" does not start at a token boundary`},
		{"missing adapter", []string{"-model", stories, "-adapter", filepath.Join(t.TempDir(), "ad"), "-prompt", "x", "-candidates", " a"},
			1, "adapter_config.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Empty(t, clitest.Fails(t, run, tc.code, tc.want, tc.args...).Stdout)
		})
	}
}
