package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	const dir = "../../testdata/qwen3-tokenizer"
	for _, tc := range []struct {
		args     []string
		in, want string
	}{
		{[]string{"-tokenizer", dir}, "\"Hello world\"\n\"\"\n", "[9707,1879]\n[]\n"},
		{[]string{"-tokenizer", dir, "-decode"}, "[9707,1879]\n", "\"Hello world\"\n"},
		{[]string{"-tokenizer", dir, "-chat", "-vars", `{"enable_thinking":false}`},
			`[{"role":"user","content":"Hi"}]` + "\n",
			`"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"` + "\n"},
	} {
		var out bytes.Buffer
		require.NoError(t, run(tc.args, strings.NewReader(tc.in), &out), tc.args)
		assert.Equal(t, tc.want, out.String(), tc.args)
	}
	var out bytes.Buffer
	err := run([]string{"-tokenizer", dir}, strings.NewReader("not json\n"), &out)
	require.ErrorContains(t, err, "line 1")
	require.Error(t, run(nil, strings.NewReader(""), &out))
}
