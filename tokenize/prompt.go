package tokenize

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// Chat is the prompt format: whether and how a prompt is wrapped in the tokenizer's chat
// template. It is the one format type of the module: the scorer (score.Options.Chat, package eval/score) and
// the trainer's encoder (train.Encode) both render through RenderPrompt with it, so a model is
// trained on exactly the tokens it is scored on.
type Chat struct {
	// Enabled wraps the prompt as the user message of the chat template, with the generation
	// prompt; without it the model reads the text as is.
	Enabled bool
	// System is a system message put before the user message ("" for none).
	System string
	// Vars are extra template variables. enable_thinking defaults to false (the one place this
	// default is set): answers are read right after the generation prompt, so Qwen3's templates
	// write an empty think block there; Vars {"enable_thinking": true} leaves it out. Templates
	// that do not use the variable ignore it.
	Vars map[string]any
}

// vars is the template variables RenderPrompt passes: the defaults, overridden by c.Vars.
func (c Chat) vars() map[string]any {
	v := map[string]any{"enable_thinking": false}
	maps.Copy(v, c.Vars)
	return v
}

// RenderPrompt builds the text a model continues. Without chat it is text+prefix. With chat,
// text becomes the user message of the tokenizer's chat template (after the system message,
// if any), rendered with the generation prompt and chat.Vars (over the default enable_thinking
// false), and prefix starts the assistant's turn. Asking for chat with a tokenizer that has
// no template is an error.
func (t *Tokenizer) RenderPrompt(text, prefix string, chat Chat) (string, error) {
	if !chat.Enabled {
		return text + prefix, nil
	}
	if !t.HasChatTemplate() {
		return "", fmt.Errorf("tokenize: %s has no chat template", t.dir)
	}
	var msgs []Message
	if chat.System != "" {
		msgs = append(msgs, Message{Role: "system", Content: chat.System})
	}
	msgs = append(msgs, Message{Role: "user", Content: text})
	s, err := t.ApplyChatTemplate(msgs, true, chat.vars())
	if err != nil {
		return "", err
	}
	return s + prefix, nil
}

// EncodePrompt encodes a rendered prompt and the answers that may follow it, as the model
// sees them: the prompt's ids (with the tokenizer's leading special tokens, such as BOS, when
// addSpecial; never a trailing EOS, which would end the prompt) and, for each answer, the ids
// it adds after the prompt. The chat template writes its own BOS, so rendered chat prompts are
// encoded with addSpecial false.
//
// When the prompt ends in whitespace that merges with an answer (SentencePiece tokenizers
// write " 5" as one token), the whitespace is moved from the prompt to every answer, which is
// how the model would write them. Any other merge is a *BoundaryError naming the answer.
func (t *Tokenizer) EncodePrompt(prompt string, answers []string, addSpecial bool) ([]int, [][]int, error) {
	ans, err := t.AnswerTokens(prompt, answers)
	var be *BoundaryError
	if errors.As(err, &be) {
		if trimmed := strings.TrimRightFunc(prompt, unicode.IsSpace); trimmed != prompt && trimmed != "" {
			moved := make([]string, len(answers))
			for i, a := range answers {
				moved[i] = prompt[len(trimmed):] + a
			}
			prompt = trimmed
			ans, err = t.AnswerTokens(prompt, moved)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	p, err := t.Encode(prompt, false)
	if err != nil {
		return nil, nil, err
	}
	if addSpecial {
		full, err := t.Encode(prompt, true)
		if err != nil {
			return nil, nil, err
		}
		// Keep what the post-processor puts before the text, drop what it puts after it.
		for k := 0; k+len(p) <= len(full); k++ {
			if slices.Equal(full[k:k+len(p)], p) {
				p = full[:k+len(p)]
				break
			}
		}
	}
	return p, ans, nil
}
