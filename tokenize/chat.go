package tokenize

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
)

// Message is one turn of a conversation for ApplyChatTemplate.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatTemplate is a parsed Jinja chat template, rewritten for the sandbox (sandbox.go).
type chatTemplate struct {
	tpl *exec.Template
	ops []*nodes.BinaryExpression // the guarded operators, by the id their calls carry
}

// chatTemplateSource returns the template text of tokenizer_config.json's chat_template: a
// string, or a list of {name, template} of which the one named "default" is used.
func chatTemplateSource(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []any:
		for _, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			if m["name"] == "default" {
				if s, ok := m["template"].(string); ok {
					return s, nil
				}
			}
		}
		return "", errors.New("a list without a template named \"default\"")
	}
	return "", fmt.Errorf("want a string or a list of {name, template}, got %T", v)
}

// chatEnv is the Jinja environment transformers gives chat templates: gonja's builtins plus
// raise_exception and strftime_now, with the sandbox's bounded range, filters and string methods
// (sandbox_filters.go).
func chatEnv() *exec.Environment {
	ctx := exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables)
	ctx.Set("raise_exception", func(msg string) (string, error) {
		return "", fmt.Errorf("template raised: %s", msg)
	})
	ctx.Set("strftime_now", func(format string) string { return strftime(time.Now(), format) })
	ctx.Set("range", sandboxRange)
	ctx.Set("lipsum", func(*exec.VarArgs) *exec.Value {
		return exec.AsValue(errors.New("lipsum is not available in chat templates"))
	})
	methods := builtins.Methods
	methods.Str = sandboxStrMethods
	return &exec.Environment{
		Context:           ctx,
		Filters:           sandboxFilters,
		Tests:             builtins.Tests,
		ControlStructures: builtins.ControlStructures,
		Methods:           methods,
	}
}

// compileChatTemplate parses src with transformers' settings (trim_blocks, lstrip_blocks), in
// the sandbox: no loader, bounded nesting, and the AST rewritten with the budget checks.
func compileChatTemplate(src string) (ct *chatTemplate, err error) {
	defer func() {
		if r := recover(); r != nil {
			ct, err = nil, fmt.Errorf("parse: internal error: %v", r)
		}
	}()
	cfg := config.New()
	cfg.TrimBlocks = true
	cfg.LeftStripBlocks = true
	if err := checkTemplateSource(src, cfg); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	const name = "chat_template"
	tpl, err := exec.NewTemplate(name, cfg, &noLoader{name: name, src: []byte(src)}, chatEnv())
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	return &chatTemplate{tpl: tpl, ops: rewriteTemplate(tpl.Root())}, nil
}

// HasChatTemplate reports whether tokenizer_config.json has a chat_template.
func (t *Tokenizer) HasChatTemplate() bool { return t.chat != nil }

// ApplyChatTemplate renders msgs with the model's chat template, as transformers'
// apply_chat_template(msgs, tokenize=False, add_generation_prompt=addGenerationPrompt, **vars):
// the template sees messages, add_generation_prompt, bos_token, eos_token (and the other special
// tokens of tokenizer_config.json), then vars (e.g. {"enable_thinking": false} for Qwen3), which
// override. Encode the result with Encode(text, false): the template writes BOS itself where
// the model wants it.
//
// Without a chat template the result is the plain text: the contents of the messages joined by
// newlines, plus nothing for the generation prompt.
func (t *Tokenizer) ApplyChatTemplate(msgs []Message, addGenerationPrompt bool, vars map[string]any) (out string, err error) {
	if t.chat == nil {
		var b bytes.Buffer
		for i, m := range msgs {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(m.Content)
		}
		return b.String(), nil
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("tokenize: chat template of %s: internal error: %v", t.dir, r)
		}
	}()
	ms := make([]any, len(msgs))
	for i, m := range msgs {
		ms[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data := map[string]any{
		"messages":              ms,
		"add_generation_prompt": addGenerationPrompt,
	}
	for _, k := range []string{"bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"} {
		if s, ok := t.configToken(k); ok {
			data[k] = s
		}
	}
	for k, v := range vars {
		data[k] = v
	}
	out, err = t.chat.render(data)
	if err != nil {
		return "", fmt.Errorf("tokenize: chat template of %s: %w", t.dir, err)
	}
	return out, nil
}

// configToken returns a special-token string of tokenizer_config.json.
func (t *Tokenizer) configToken(key string) (string, bool) {
	switch x := t.config[key].(type) {
	case string:
		return x, true
	case map[string]any:
		s, ok := x["content"].(string)
		return s, ok
	}
	return "", false
}

// strftime formats tm with the C strftime directives chat templates use (Llama 3.1's
// strftime_now("%d %b %Y")).
func strftime(tm time.Time, f string) string {
	var b bytes.Buffer
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'd':
			fmt.Fprintf(&b, "%02d", tm.Day())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(tm.Month()))
		case 'Y':
			fmt.Fprintf(&b, "%d", tm.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", tm.Year()%100)
		case 'b':
			b.WriteString(tm.Month().String()[:3])
		case 'B':
			b.WriteString(tm.Month().String())
		case 'a':
			b.WriteString(tm.Weekday().String()[:3])
		case 'A':
			b.WriteString(tm.Weekday().String())
		case 'H':
			fmt.Fprintf(&b, "%02d", tm.Hour())
		case 'M':
			fmt.Fprintf(&b, "%02d", tm.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", tm.Second())
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}
