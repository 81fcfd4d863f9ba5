package score

import (
	"context"
	"os"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/tokenize"
)

var openPrompts = []Prompt{{Text: "Lily went to the park.", Prefix: " She was"}, {Text: "Once upon a time"}}
var openCands = [][]string{{" happy", " sad", " ballerina"}, {",", " there"}}

func scoreWith(t *testing.T, s *ModelScorer) [][]float64 {
	t.Helper()
	logp, err := s.LogProbs(context.Background(), openPrompts, openCands)
	require.NoError(t, err)
	return logp
}

// Open gives the scorer a program would build by hand from the same parts.
func TestOpenMatchesHandBuiltScorer(t *testing.T) {
	m, tok := loadStories(t)
	byHand, err := New(m, tok, Options{})
	require.NoError(t, err)
	want := scoreWith(t, byHand)

	s, err := Open("../../testdata/stories260k", OpenOptions{})
	require.NoError(t, err)
	defer s.Close()
	require.Nil(t, s.Adapter)
	require.Nil(t, s.Generation, "stories260k has no generation_config.json")
	require.False(t, s.Scorer.opts.Chat.Enabled, "no chat template: plain text")
	require.Equal(t, want, scoreWith(t, s.Scorer))

	fsys := fstest.MapFS{}
	for _, name := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		raw, err := os.ReadFile("../../testdata/stories260k/" + name)
		require.NoError(t, err)
		fsys["models/stories/"+name] = &fstest.MapFile{Data: raw}
	}
	viaFS, err := OpenFS(fsys, "models/stories", OpenOptions{})
	require.NoError(t, err)
	defer viaFS.Close()
	require.Equal(t, want, scoreWith(t, viaFS.Scorer))

	// After Close the scorer fails with model.ErrClosed instead of reading unmapped weights.
	require.NoError(t, s.Close())
	_, err = s.Scorer.LogProbs(context.Background(), openPrompts, openCands)
	require.ErrorIs(t, err, model.ErrClosed)
}

// With an adapter directory, Open applies the adapter as a hand-built scorer would, and reads
// the checkpoint's generation_config.json.
func TestOpenWithAdapter(t *testing.T) {
	m, a := loadLlamaTiny(t)
	tok := loadTok(t, "../../testdata/stories260k")
	byHand, err := New(m, tok, Options{Adapter: a})
	require.NoError(t, err)
	want := scoreWith(t, byHand)
	base, err := New(m, tok, Options{})
	require.NoError(t, err)
	require.NotEqual(t, scoreWith(t, base), want, "the adapter changes the scores")

	opts := OpenOptions{Tokenizer: "../../testdata/stories260k", Adapter: "../../testdata/llama-tiny/adapter"}
	s, err := Open("../../testdata/llama-tiny/model", opts)
	require.NoError(t, err)
	defer s.Close()
	require.NotNil(t, s.Adapter)
	require.Equal(t, want, scoreWith(t, s.Scorer))
	require.NotNil(t, s.Generation)
	require.Equal(t, []int{2}, s.Generation.EOSTokenIDs)
	require.Equal(t, []int{2}, s.Model.Config.EOSTokenIDs)

	viaFS, err := OpenFS(os.DirFS("../../testdata"), "llama-tiny/model",
		OpenOptions{Tokenizer: "stories260k", Adapter: "llama-tiny/adapter"})
	require.NoError(t, err)
	defer viaFS.Close()
	require.Equal(t, want, scoreWith(t, viaFS.Scorer))
}

func TestOpenChatModes(t *testing.T) {
	// qwen3-tokenizer has a chat template (its vocabulary is not qwen3-tiny's: only rendering
	// is checked here).
	for _, tc := range []struct {
		mode ChatMode
		chat bool
	}{{ChatAuto, true}, {ChatOn, true}, {ChatOff, false}} {
		s, err := Open("../../testdata/qwen3-tiny/model", OpenOptions{Tokenizer: "../../testdata/qwen3-tokenizer", Chat: tc.mode,
			Scorer: Options{Chat: tokenize.Chat{System: "Answer briefly."}}})
		require.NoError(t, err)
		text, err := s.Scorer.Render(Prompt{Text: "Is it fine?", Prefix: " Yes"})
		require.NoError(t, err)
		if tc.chat {
			require.Contains(t, text, "<|im_start|>system\nAnswer briefly.<|im_end|>")
			require.Contains(t, text, "<|im_start|>user\nIs it fine?<|im_end|>")
		} else {
			require.Equal(t, "Is it fine? Yes", text)
		}
		require.NoError(t, s.Close())
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  string
		opts OpenOptions
		want string
	}{
		{"no such model", "../../testdata/nothing", OpenOptions{Tokenizer: "../../testdata/stories260k"}, "nothing/config.json"},
		{"no tokenizer", "../../testdata/llama-tiny/model", OpenOptions{}, "tokenizer.json"},
		{"chat without template", "../../testdata/stories260k", OpenOptions{Chat: ChatOn}, "no chat_template"},
		{"unknown chat mode", "../../testdata/stories260k", OpenOptions{Chat: 7}, "chat mode 7"},
		{"adapter of another model", "../../testdata/llama-tiny/model",
			OpenOptions{Tokenizer: "../../testdata/stories260k", Adapter: "../../testdata/qwen3-tiny/adapter"}, "has shape [16 128], want [16 176]"},
		{"two adapters", "../../testdata/stories260k",
			OpenOptions{Adapter: "x", Scorer: Options{Adapter: (*lora.Adapter)(nil)}}, "both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.dir, tc.opts)
			require.ErrorContains(t, err, "score: open "+tc.dir)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// A typed-nil *lora.Adapter in Options is the base model; an adapter made for another
// model is refused by New with the shapes, not a panic in the first pass.
func TestScorerAdapterChecks(t *testing.T) {
	m, tok := loadModel(t, "../../testdata/llama-tiny/model"), loadTok(t, "../../testdata/stories260k")
	base, err := New(m, tok, Options{})
	require.NoError(t, err)
	var none *lora.Adapter
	withNil, err := New(m, tok, Options{Adapter: none})
	require.NoError(t, err)
	require.Equal(t, scoreWith(t, base), scoreWith(t, withNil))

	qwen := loadModel(t, "../../testdata/qwen3-tiny/model")
	other, err := lora.Load("../../testdata/qwen3-tiny/adapter", qwen)
	require.NoError(t, err)
	_, err = New(m, tok, Options{Adapter: other})
	require.ErrorContains(t, err, "layer 0 q_proj: the adapter is for a weight of shape [128,64], the model's has shape [64,64]")
}
