package train

import (
	"fmt"

	"github.com/valora-go/valora/tokenize"
)

// TextExample is a training pair as text: Prompt is what the user says, Prefix the text the
// answer continues (with a chat template: the start of the assistant turn), Answer the target.
type TextExample struct {
	Prompt, Prefix, Answer string
}

// Encode tokenises text pairs the way the scorer reads them (tokenize.RenderPrompt and
// EncodePrompt), so a model is trained on exactly the token positions its ratings are read
// from: given the chat format a score.ModelScorer is given (score.Options.Chat), the prompt
// ids equal the scorer's, token for token, defaults included. With eos, the tokenizer's
// end-of-sequence token is appended to every answer.
func Encode(tok *tokenize.Tokenizer, xs []TextExample, chat tokenize.Chat, eos bool) ([]Example, error) {
	eosID, hasEOS := tok.EOS()
	if eos && !hasEOS {
		return nil, fmt.Errorf("train: encode: the tokenizer has no end-of-sequence token")
	}
	out := make([]Example, len(xs))
	for i, x := range xs {
		if x.Prompt == "" && x.Prefix == "" || x.Answer == "" {
			return nil, fmt.Errorf("train: encode: example %d: empty prompt or answer", i)
		}
		text, err := tok.RenderPrompt(x.Prompt, x.Prefix, chat)
		if err != nil {
			return nil, fmt.Errorf("train: encode: example %d: %w", i, err)
		}
		p, ans, err := tok.EncodePrompt(text, []string{x.Answer}, !chat.Enabled)
		if err != nil {
			return nil, fmt.Errorf("train: encode: example %d: %w", i, err)
		}
		a := ans[0]
		if eos {
			a = append(a, eosID)
		}
		out[i] = Example{Prompt: p, Answer: a}
	}
	return out, nil
}
