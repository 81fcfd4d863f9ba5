package tokenize

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func renderHostile(t *testing.T, src string) (string, error) {
	t.Helper()
	ct, err := compileChatTemplate(src)
	if err != nil {
		return "", err
	}
	tok := &Tokenizer{dir: "hostile-dir", chat: ct, config: map[string]any{}}
	return tok.ApplyChatTemplate([]Message{{Role: "user", Content: "hi"}}, true, nil)
}

// TestChatTemplateSandbox: templates that hang, overflow the stack, run out of memory or read
// files under an unsandboxed gonja end in an error that names the template and the limit.
func TestChatTemplateSandbox(t *testing.T) {
	secret := t.TempDir() + "/secret.txt"
	require.NoError(t, os.WriteFile(secret, []byte("TOP-SECRET"), 0o644))
	cases := []struct{ name, src, want string }{
		{"range 1e8", `{% for i in range(100000000) %}{% endfor %}`, "range of 100000000 items"},
		{"nested loops 1e9", `{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}{% endfor %}{% endfor %}`, "steps"},
		{"recursive macro", `{% macro f(n) %}{{ f(n+1) }}{% endmacro %}{{ f(0) }}`, "recursion deeper"},
		{"mutual recursion", `{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n) }}{% endmacro %}{{ a(0) }}`, "recursion deeper"},
		{"recursive block", `{% block x %}{{ self.x() }}{% endblock %}`, "recursion deeper"},
		{"recursive loop", `{% for m in [[1]] recursive %}{{ loop([m]) }}{% endfor %}`, "recursion deeper"},
		{"string repeat 1e9", `{{ "aaaaaaaaaa" * 1000000000 }}`, "operator *"},
		{"int times string", `{{ 1000000000 * "aaaaaaaaaa" }}`, "operator *"},
		{"list repeat", `{{ [1,2,3] * 1000000000 }}`, "operator *"},
		{"doubling", `{% set ns = namespace(s="ab") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}`, "operator ~"},
		{"doubling +", `{% set ns = namespace(s="ab") %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}`, "operator +"},
		{"output flood", `{% for i in range(1000000) %}{{ "x" * 1000 }}{% endfor %}`, "budget"},
		{"text flood", `{% for i in range(1000000) %}` + strings.Repeat("y", 100) + `{% endfor %}`, "output over"},
		{"macro buffer flood", `{% macro m() %}{% for i in range(1000000) %}{{ "z" * 1000 }}{% endfor %}{% endmacro %}{% set x = m() %}`, "budget"},
		{"center width", `{{ "a"|center(10000000000) }}`, "filter center"},
		{"indent width", `{{ "a\nb"|indent(10000000000) }}`, "filter indent"},
		{"join flood", `{{ range(100000)|join("q" * 10000) }}`, "filter join"},
		{"ljust", `{{ "a".ljust(10000000000) }}`, "str.ljust"},
		{"format width", `{{ "{:>10000000000}".format(1) }}`, "str.format"},
		{"format filter width", `{{ "%10000000000s"|format(1) }}`, "filter format"},
		{"include file", `{% include "` + secret + `" %}`, "without a loader"},
		{"import file", `{% import "` + secret + `" as x %}`, "without a loader"},
		{"extends file", `{% extends "` + secret + `" %}`, "without a loader"},
		{"from import", `{% from "` + secret + `" import y %}`, "without a loader"},
		{"deep brackets", "{{ " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000) + " }}", "nests deeper"},
		{"deep lists", "{{ " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + " }}", "nests deeper"},
		{"deep ifs", strings.Repeat("{% if true %}", 2000) + strings.Repeat("{% endif %}", 2000), "nests deeper"},
		{"not chain", "{{ " + strings.Repeat("not ", 100000) + "true }}", "nests deeper"},
		{"reserved name", `{{ __valora_sandbox_budget }}`, "reserved name"},
		{"huge source", strings.Repeat("a", maxTemplateSource+1), "over the limit"},
		{"lipsum", `{{ lipsum(100000000) }}`, "lipsum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			out, err := renderHostile(t, c.src)
			require.Error(t, err, "rendered %d bytes", len(out))
			require.ErrorContains(t, err, c.want)
			require.NotContains(t, err.Error(), "TOP-SECRET")
			require.Less(t, time.Since(start), 20*time.Second)
		})
	}
}

// The sandbox leaves ordinary templates alone, including the features it rewrites.
func TestChatTemplateSandboxKeepsSemantics(t *testing.T) {
	cases := []struct{ src, want string }{
		{`{{ "ab" * 3 }}|{{ 2 * 3 }}|{{ 1 + 2 }}|{{ "a" + "b" }}|{{ "a" ~ 1 }}|{{ [1] + [2] }}`, "ababab|6|3|ab|a1|[1, 2]"},
		{`{% for i in range(3) %}{{ i }}{% endfor %}|{% for i in range(1, 7, 2) %}{{ i }}{% endfor %}|{% for i in range(3, 0, -1) %}{{ i }}{% endfor %}`, "012|135|321"},
		{`{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}`, "54321"},
		{`{% for m in messages %}{% if loop.first %}{% continue %}{% endif %}{{ m.content }}{% endfor %}{{ messages[0].content|upper }}`, "HI"},
		{`{% filter upper %}{{ "x" ~ "y" }}{% endfilter %}{{ "a,b".split(",")|join("-") }}{{ "{:>4}".format(7) }}`, "XYa-b   7"},
	}
	for _, c := range cases {
		out, err := renderHostile(t, c.src)
		require.NoError(t, err, c.src)
		require.Equal(t, c.want, out, c.src)
	}
	// A long loop with continue and break stays within budget.
	out, err := renderHostile(t, `{% for i in range(5000) %}{% if i % 2 %}{% continue %}{% endif %}{% if i > 4000 %}{% break %}{% endif %}{% endfor %}ok`)
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.Less(t, runtime.NumGoroutine(), 1000)
}
