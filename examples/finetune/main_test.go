package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/examples/internal/clitest"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// With its default budget the example teaches stories260k a fixed answer: the held-out rows'
// answer probability ends above 0.9, and the run leaves a loadable adapter and a metrics log.
func TestFinetuneLearnsFixedAnswer(t *testing.T) {
	out := t.TempDir()
	o := clitest.OK(t, run, "-model", "../../testdata/stories260k",
		"-data", "../../testdata/finetune/train.jsonl", "-val", "../../testdata/finetune/val.jsonl", "-out", out)
	t.Log(o.Stdout)
	mt := regexp.MustCompile(`held-out answer probability: mean ([0-9.]+), min ([0-9.]+)`).FindStringSubmatch(o.Stdout)
	require.NotNil(t, mt)
	lo, err := strconv.ParseFloat(mt[2], 64)
	require.NoError(t, err)
	require.Greater(t, lo, 0.9)

	m, err := model.Load("../../testdata/stories260k")
	require.NoError(t, err)
	defer m.Close()
	a, err := lora.Load(out, m)
	require.NoError(t, err)
	require.Equal(t, 128, a.Config.Rank)
	raw, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	require.NoError(t, err)
	require.Contains(t, string(raw), `"val_loss"`)
}

func TestFinetuneBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("{\"prompt\": \"a\", \"answer\": \"b\"}\n{\"prompt\": \"x\"}\n"), 0o644))
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-data", bad}, 1, "bad.jsonl:2: want non-empty"},
		{[]string{"-data", filepath.Join(dir, "none.jsonl")}, 1, "none.jsonl"},
		{[]string{"-targets", "q,embed"}, 2, `unknown projection "embed"`},
		{[]string{"-chat"}, 1, "no chat template"},
		{[]string{"-resume", "-out", dir}, 1, "LATEST"},
	}
	for _, c := range cases {
		clitest.Fails(t, run, c.code, c.want,
			append([]string{"-model", "../../testdata/stories260k", "-data", "../../testdata/finetune/train.jsonl", "-out", dir}, c.args...)...)
	}
}
