package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/survey"
)

// The main job end to end on a slice of the built-in instrument: every stage runs, writes its
// reports, and the in-domain metrics cover the test split.
func TestAlignEndToEnd(t *testing.T) {
	in, err := survey.Builtin()
	require.NoError(t, err)
	small, err := in.Subset(1, 1, 3)
	require.NoError(t, err)
	dir := t.TempDir()
	inst := filepath.Join(dir, "small.json")
	require.NoError(t, survey.WriteFileAtomic(inst, small.WriteJSON))
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-model", "../../testdata/stories260k", "-instrument", inst,
		"-variants", "3", "-epochs", "1", "-rank", "4", "-alpha", "16", "-out", out}, &stdout, &stderr)
	t.Log(stdout.String())
	require.Equal(t, 0, code, stderr.String())
	require.Contains(t, stdout.String(), "2. intervention power-minimisation: 60 training rows, 60 validation rows")
	require.Regexp(t, `5\. games \(control -> tuned, 100 = random agent\): power.Σ [0-9.]+ -> [0-9.]+, utility.Σ .+`, stdout.String())

	for _, f := range []string{"baseline/profile.json", "baseline/profile.png", "in_domain.json", "in_domain.md", "in_domain_expected.json",
		"games.json", "games.md", "games.png", "tuned/adapter_config.json", "control/metrics.jsonl"} {
		_, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err, f)
	}
	raw, err := os.ReadFile(filepath.Join(out, "in_domain.json"))
	require.NoError(t, err)
	var r survey.InDomainResult
	require.NoError(t, json.Unmarshal(raw, &r))
	require.Equal(t, 3*3, r.TargetPrompts) // Power_dominance, Power_resources, Face: 1 test description x 3 variants
	require.Equal(t, 17*3, r.OtherPrompts)

	m, err := model.Load("../../testdata/stories260k")
	require.NoError(t, err)
	defer m.Close()
	a, err := lora.Load(filepath.Join(out, "tuned"), m)
	require.NoError(t, err)
	require.Equal(t, 4, a.Config.Rank)
}

func TestAlignBadInput(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-targets", "Kindness"}, 1, "Kindness"},
		{[]string{"-variants", "0"}, 2, "-variants must be positive"},
		{[]string{"-instrument", "/nonexistent/i.json"}, 1, "/nonexistent/i.json"},
		{[]string{"-model", "/nonexistent/m"}, 1, "/nonexistent/m"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		args := append([]string{"-model", "../../testdata/stories260k", "-out", t.TempDir()}, c.args...)
		require.Equal(t, c.code, run(context.Background(), args, &stdout, &stderr), c.args)
		require.Contains(t, stderr.String(), c.want)
	}
}
