package tokenize

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// RenderPrompt builds the text a model continues. Without chat, it is text+prefix. With chat,
// text becomes the user message of the tokenizer's chat template, rendered with the generation
// prompt and vars (for example {"enable_thinking": false} for Qwen3), and prefix starts the
// assistant's turn. Asking for chat with a tokenizer that has no template is an error.
func (t *Tokenizer) RenderPrompt(text, prefix string, chat bool, vars map[string]any) (string, error) {
	if !chat {
		return text + prefix, nil
	}
	if !t.HasChatTemplate() {
		return "", fmt.Errorf("tokenize: %s has no chat template", t.dir)
	}
	s, err := t.ApplyChatTemplate([]Message{{Role: "user", Content: text}}, true, vars)
	if err != nil {
		return "", err
	}
	return s + prefix, nil
}

// EncodePair encodes a rendered prompt and its answer as the model sees them: the prompt's ids
// (with the tokenizer's special tokens, such as BOS, when addSpecial) and the ids the answer
// adds after it. When the prompt ends in whitespace that merges with the answer (SentencePiece
// tokenizers write " 5" as one token), the whitespace is moved from the prompt to the answer,
// which is how the model would write it; any other merge is a *BoundaryError.
func (t *Tokenizer) EncodePair(prompt, answer string, addSpecial bool) (p, a []int, err error) {
	ans, err := t.AnswerTokens(prompt, []string{answer})
	var be *BoundaryError
	if errors.As(err, &be) {
		trimmed := strings.TrimRightFunc(prompt, unicode.IsSpace)
		if trimmed != prompt && trimmed != "" {
			prompt, answer = trimmed, prompt[len(trimmed):]+answer
			ans, err = t.AnswerTokens(prompt, []string{answer})
		}
	}
	if err != nil {
		return nil, nil, err
	}
	p, err = t.Encode(prompt, addSpecial)
	if err != nil {
		return nil, nil, err
	}
	return p, ans[0], nil
}
