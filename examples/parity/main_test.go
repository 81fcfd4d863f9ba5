package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every fixture in testdata must pass, as `go run ./examples/parity -fixture DIR` would.
func TestParityFixtures(t *testing.T) {
	cases := [][]string{
		{"-fixture", "../../testdata/llama-tiny"},
		{"-fixture", "../../testdata/qwen3-tiny"},
		{"-fixture", "../../testdata/qwen3-sharded-rslora"},
		{"-fixture", "../../testdata/stories260k", "-goldens", "../../testdata/stories260k_goldens.safetensors"},
	}
	for _, args := range cases {
		t.Run(filepath.Base(args[1]), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			t.Log("\n" + out.String() + errb.String())
			require.Equal(t, 0, code)
			require.Contains(t, out.String(), " 0 failed")
		})
	}
}

// A tolerance nobody can meet must fail: the checker really compares.
func TestParityFailsOnMismatch(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"-fixture", "../../testdata/llama-tiny", "-tol", "0"}, &out, &errb)
	require.Equal(t, 1, code)
	require.Contains(t, out.String(), "FAIL")
}
