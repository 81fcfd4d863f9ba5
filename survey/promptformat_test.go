package survey_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/tokenize"
	"github.com/valora-go/valora/train"
)

// The trainer is fed exactly the tokens the scorer reads: for every chat setting, the prompt
// ids of train.Encode equal ModelScorer.Tokens' prompt ids, token for token, and the answer
// ids equal the candidate's. (Chat mode once differed: the scorer defaulted enable_thinking to
// false and train.Encode did not, so Qwen3 was trained without the empty think block it was
// scored with.)
func TestTrainingPromptEqualsScorerPrompt(t *testing.T) {
	for _, tc := range []struct{ name, tok, model string }{
		{"qwen3", "../testdata/qwen3-tokenizer", "../testdata/qwen3-tiny/model"},
		{"llama31", "../../shared/tokenizers/llama31", "../testdata/llama-tiny/model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(tc.tok, "tokenizer.json")); err != nil {
				t.Skipf("tokenizer not available at %s (shared data absent)", tc.tok)
			}
			tok, err := tokenize.Load(tc.tok)
			require.NoError(t, err)
			m, err := model.Load(tc.model)
			require.NoError(t, err)
			t.Cleanup(func() { m.Close() })
			xs := []train.TextExample{
				{Prompt: "How important is honesty to you? Answer with a number from 1 to 6.", Prefix: "Rating:", Answer: " 5"},
				{Prompt: "Is it wrong to lie to a friend?", Prefix: "", Answer: "Yes"},
				{Prompt: "Rate this description.", Prefix: "Answer: ", Answer: "3"},
			}
			for _, chat := range []tokenize.Chat{
				{},
				{Enabled: true},
				{Enabled: true, System: "You are a helpful assistant."},
				{Enabled: true, Vars: map[string]any{"enable_thinking": true}},
			} {
				enc, err := train.Encode(tok, xs, chat, false)
				require.NoError(t, err)
				s, err := score.New(m, tok, score.Options{Chat: chat})
				require.NoError(t, err)
				for i, x := range xs {
					p, cands, err := s.Tokens(score.Prompt{Text: x.Prompt, Prefix: x.Prefix}, []string{x.Answer})
					require.NoError(t, err)
					require.Equal(t, p, enc[i].Prompt, "chat %+v, example %d: prompt tokens\nscorer:  %q\ntraining: %q", chat, i, decode(tok, p), decode(tok, enc[i].Prompt))
					require.Equal(t, cands[0], enc[i].Answer, "chat %+v, example %d: answer tokens", chat, i)
				}
			}
		})
	}
}

func decode(tok *tokenize.Tokenizer, ids []int) string {
	s, err := tok.Decode(ids, false)
	if err != nil {
		return err.Error()
	}
	return s
}
