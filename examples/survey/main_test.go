package main

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/examples/internal/clitest"
	"github.com/valora-go/valora/survey"
)

// smallInstrument writes a slice of the built-in instrument (one description of every value in
// every split, one task, three templates) to a file, for fast tests.
func smallInstrument(t *testing.T) string {
	t.Helper()
	in, err := survey.Builtin()
	require.NoError(t, err)
	small, err := in.Subset(1, 1, 3)
	require.NoError(t, err)
	small.Name = "small"
	p := filepath.Join(t.TempDir(), "small.json")
	require.NoError(t, survey.WriteFileAtomic(p, small.WriteJSON))
	return p
}

func TestSurveyWritesProfile(t *testing.T) {
	out := t.TempDir()
	o := clitest.OK(t, run, "-model", "../../testdata/stories260k", "-instrument", smallInstrument(t), "-split", "train,test", "-out", out)
	require.Contains(t, o.Stdout, "small: 120 prompts (40 descriptions)")

	var res survey.ProfileResult
	clitest.ReadJSON(t, filepath.Join(out, "profile.json"), &res)
	require.Len(t, res.Ratings, 120)
	require.Len(t, res.Values, 20)
	for _, r := range res.Ratings {
		require.GreaterOrEqual(t, r.Rating, 1)
		require.LessOrEqual(t, r.Rating, 6)
	}
	f, err := os.Open(filepath.Join(out, "profile.png"))
	require.NoError(t, err)
	defer f.Close()
	_, err = png.Decode(f)
	require.NoError(t, err)
	md, err := os.ReadFile(filepath.Join(out, "profile.md"))
	require.NoError(t, err)
	require.Contains(t, string(md), "Power_dominance")
}

func TestSurveyBadInput(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-split", "dev"}, 2, `unknown split "dev"`},
		{[]string{"-mode", "vote"}, 2, `-mode: "vote"`},
		{[]string{"-instrument", "/nonexistent/x.json"}, 1, "/nonexistent/x.json"},
		{[]string{"-adapter", "/nonexistent/ad"}, 1, "adapter_config.json"},
	}
	for _, c := range cases {
		clitest.Fails(t, run, c.code, c.want, append([]string{"-model", "../../testdata/stories260k", "-out", t.TempDir()}, c.args...)...)
	}
}
