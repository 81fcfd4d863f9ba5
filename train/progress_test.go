package train

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

var rateRE = regexp.MustCompile(`^step 1/\d+ loss \S+ (\S+) steps/s`)

// The first progress line's rate is one step over the time since the run began (the
// elapsed_s of step 1 in the metrics log), not over the time since the step ended.
func TestProgressFirstRate(t *testing.T) {
	m := stories(t)
	dir := t.TempDir()
	var out bytes.Buffer
	cfg := runConfig(dir)
	cfg.Epochs, cfg.Progress = 1, &out
	tr, err := New(m, smallAdapter(t, m, 0), synthetic(16, 2), nil, cfg)
	require.NoError(t, err)
	_, err = tr.Run(context.Background())
	require.NoError(t, err)
	first, _, _ := bytes.Cut(out.Bytes(), []byte("\n"))
	sub := rateRE.FindSubmatch(first)
	require.NotNil(t, sub, "first progress line: %q", first)
	rate, err := strconv.ParseFloat(string(sub[1]), 64)
	require.NoError(t, err)
	logged, _ := readRecords(t, dir)
	want := 1 / logged[0].Elapsed
	require.InDelta(t, want, rate, 0.005+1e-6*want, "first line %q, step 1 at %.6fs", first, logged[0].Elapsed)
}

// Progress lines from the metrics: a resumed run's first line is its first step, and a rate
// of 0 (nothing measured) gives no ETA instead of an infinite one.
func TestProgressLines(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, 10, 4)
	p.update(StepMetrics{Step: 5, Loss: 1.5, StepsPerSec: 0.5, TokensPerSec: 100})
	p.update(StepMetrics{Step: 6, Loss: 1.25, StepsPerSec: 0.5, TokensPerSec: 100}) // within 5s: not printed
	p.update(StepMetrics{Step: 10, Loss: 1, TokensPerSec: 100})
	require.Equal(t, "step 5/10 loss 1.5000 0.50 steps/s 100 tok/s ETA 10s\n"+
		"step 10/10 loss 1.0000 0.00 steps/s 100 tok/s ETA ?\n", out.String())
}
