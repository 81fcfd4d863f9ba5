package tokenize

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzChatTemplate: no chat template makes compiling or rendering panic, overflow the stack,
// hang past the sandbox's budgets or read a file.
func FuzzChatTemplate(f *testing.F) {
	if raw, err := os.ReadFile("../testdata/qwen3-tokenizer/tokenizer_config.json"); err == nil {
		var cfg struct {
			ChatTemplate string `json:"chat_template"`
		}
		if json.Unmarshal(raw, &cfg) == nil && cfg.ChatTemplate != "" {
			f.Add(cfg.ChatTemplate)
		}
	}
	for _, s := range []string{
		`{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}`,
		`{% macro f(n) %}{{ f(n+1) }}{% endmacro %}{{ f(0) }}`,
		`{{ "ab" * 3 }}{{ range(3)|join(",") }}{{ "x".ljust(4) }}`,
		`{% set ns = namespace(s="") %}{% for i in range(10) %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.s }}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		ct, err := compileChatTemplate(src)
		if err != nil {
			return
		}
		tok := &Tokenizer{dir: "fuzz", chat: ct, config: map[string]any{}}
		out, err := tok.ApplyChatTemplate([]Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "ok"}}, true, nil)
		if err == nil && len(out) > maxRenderOutput {
			t.Fatalf("rendered %d bytes, over the budget", len(out))
		}
	})
}
