// Package clitest is what the example programs' tests share: running a program's run function
// as the shell would (arguments in, exit status and output back), checking how it ended,
// reading the JSON files it wrote, and the library scorer a test compares a program's numbers
// with. It is imported by tests only.
package clitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/tokenize"
)

// Run is an example program's run function, as cli.Main calls it.
type Run func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// Output is how one run of a program ended: its exit status and what it wrote.
type Output struct {
	Code           int
	Stdout, Stderr string
}

// Exec runs run with args under a background context.
func Exec(run Run, args ...string) Output {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return Output{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

// OK runs run with args and fails the test, showing standard error, unless it exits with 0.
func OK(t testing.TB, run Run, args ...string) Output {
	t.Helper()
	o := Exec(run, args...)
	require.Equal(t, 0, o.Code, "%q: %s", args, o.Stderr)
	return o
}

// Fails runs run with args and fails the test unless it exits with code and its standard
// error holds want.
func Fails(t testing.TB, run Run, code int, want string, args ...string) Output {
	t.Helper()
	o := Exec(run, args...)
	require.Equal(t, code, o.Code, "%q: %s", args, o.Stderr)
	require.Contains(t, o.Stderr, want, "%q", args)
	return o
}

// ReadJSON decodes the JSON file at path into v.
func ReadJSON(t testing.TB, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, v), path)
}

// Scorer is the reference a test compares a program's scores with: a scorer over m with the
// tokenizer in tokDir and the PEFT adapter in adapterDir ("" for the base model), built from
// the library's parts (tokenize.Load, lora.Load, score.New) rather than through score.Open
// as the programs load.
func Scorer(t testing.TB, m *model.Model, tokDir, adapterDir string) *score.ModelScorer {
	t.Helper()
	tok, err := tokenize.Load(tokDir)
	require.NoError(t, err)
	var opts score.Options
	if adapterDir != "" {
		opts.Adapter, err = lora.Load(adapterDir, m)
		require.NoError(t, err)
	}
	s, err := score.New(m, tok, opts)
	require.NoError(t, err)
	return s
}
