package cli

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/tokenize"
)

const stories = "../../../testdata/stories260k"

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   int
		stderr string
	}{
		{nil, 0, ""},
		{errors.New("open x: no such file"), 1, "demo: open x: no such file\n"},
	} {
		var stderr bytes.Buffer
		require.Equal(t, tc.code, Status(&stderr, "demo", tc.err))
		require.Equal(t, tc.stderr, stderr.String())
	}
}

func TestRegister(t *testing.T) {
	cases := []struct {
		name  string
		flags Flags
		args  []string
		want  Checkpoint
		err   string // "" when the args parse
	}{
		{"defaults", Flags{Model: "m"}, nil, Checkpoint{Model: "m"}, ""},
		{"all", Flags{Adapter: "adapter", Chat: true}, []string{"-model", "a", "-tokenizer", "b", "-adapter", "c", "-chat"},
			Checkpoint{Model: "a", Tokenizer: "b", Adapter: "c", Chat: true}, ""},
		{"no adapter flag", Flags{Model: "m"}, []string{"-adapter", "c"}, Checkpoint{}, "flag provided but not defined: -adapter"},
		{"no chat flag", Flags{Model: "m", Adapter: "adapter"}, []string{"-chat"}, Checkpoint{}, "flag provided but not defined: -chat"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			fs := NewFlagSet("x", &stderr)
			var got Checkpoint
			got.Register(fs, c.flags)
			err := fs.Parse(c.args)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				require.Contains(t, stderr.String(), c.err, "messages go to stderr")
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestRequiredModelUsage(t *testing.T) {
	var stderr bytes.Buffer
	fs := NewFlagSet("x", &stderr)
	new(Checkpoint).Register(fs, Flags{})
	require.Contains(t, fs.Lookup("model").Usage, ", required")
	fs = NewFlagSet("x", &stderr)
	new(Checkpoint).Register(fs, Flags{Model: "m"})
	require.NotContains(t, fs.Lookup("model").Usage, "required")
}

func TestTokenizerDir(t *testing.T) {
	require.Equal(t, "m", Checkpoint{Model: "m"}.TokenizerDir())
	require.Equal(t, "t", Checkpoint{Model: "m", Tokenizer: "t"}.TokenizerDir())
}

// TestOpenScoresAsHandBuilt: the session Open builds scores as a scorer built by hand over
// model.Load and tokenize.Load, and NewScorer with a nil adapter is the base model.
func TestOpenScoresAsHandBuilt(t *testing.T) {
	ctx := context.Background()
	prompts := []score.Prompt{{Text: "Lily went to the park.", Prefix: " She was"}}
	cands := [][]string{{" happy", " sad"}}

	m, err := model.Load(stories)
	require.NoError(t, err)
	defer m.Close()
	tok, err := tokenize.Load(stories)
	require.NoError(t, err)
	ref, err := score.New(m, tok, score.Options{BatchSize: 1})
	require.NoError(t, err)
	want, err := ref.LogProbs(ctx, prompts, cands)
	require.NoError(t, err)

	s, err := Checkpoint{Model: stories}.Open(score.Options{BatchSize: 1})
	require.NoError(t, err)
	defer s.Close()
	got, err := s.Scorer.LogProbs(ctx, prompts, cands)
	require.NoError(t, err)
	require.Equal(t, want, got)

	ns, err := NewScorer(s.Model, s.Tokenizer, nil, false, 1)
	require.NoError(t, err)
	got, err = ns.LogProbs(ctx, prompts, cands)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestOpenErrors(t *testing.T) {
	cases := []struct {
		name string
		ck   Checkpoint
		load bool // Load instead of Open
		want string
	}{
		{"chat without a template", Checkpoint{Model: stories, Chat: true}, false, "no chat_template"},
		{"missing adapter", Checkpoint{Model: stories, Adapter: t.TempDir()}, false, "adapter_config.json"},
		{"missing model", Checkpoint{Model: t.TempDir(), Tokenizer: stories}, true, "config.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.load {
				_, err = c.ck.Load()
			} else {
				_, err = c.ck.Open(score.Options{})
			}
			require.ErrorContains(t, err, c.want)
		})
	}
	// Load reads plain text whatever Chat says: the program applies the template itself.
	s, err := Checkpoint{Model: stories, Chat: true}.Load()
	require.NoError(t, err)
	defer s.Close()
	require.False(t, s.Scorer.Chat().Enabled)
	_, err = NewScorer(s.Model, s.Tokenizer, nil, true, 1)
	require.ErrorContains(t, err, "no chat_template")
}

func TestLoadInstrument(t *testing.T) {
	in, err := LoadInstrument("builtin")
	require.NoError(t, err)
	require.NotEmpty(t, in.Descriptions)
	_, err = LoadInstrument("/nonexistent/instrument.json")
	require.ErrorContains(t, err, "/nonexistent/instrument.json")
}
