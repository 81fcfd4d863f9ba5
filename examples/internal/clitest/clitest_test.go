package clitest

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// echo is a program that writes its first argument to stdout, its second to stderr, and exits
// with the status its third names.
func echo(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprint(stdout, args[0])
	fmt.Fprint(stderr, args[1])
	var code int
	fmt.Sscan(args[2], &code)
	return code
}

func TestExec(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want Output
	}{
		{[]string{"out", "", "0"}, Output{Code: 0, Stdout: "out"}},
		{[]string{"", "bad flag", "2"}, Output{Code: 2, Stderr: "bad flag"}},
		{[]string{"partial", "failed", "1"}, Output{Code: 1, Stdout: "partial", Stderr: "failed"}},
	} {
		require.Equal(t, tc.want, Exec(echo, tc.args...), tc.args)
	}
	require.Equal(t, "out", OK(t, echo, "out", "", "0").Stdout)
	require.Equal(t, "x", Fails(t, echo, 1, "no such file", "x", "open: no such file", "1").Stdout)
}
