package survey

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/eval/score"
)

func TestFirstDigit(t *testing.T) {
	cases := []struct {
		reply string
		want  int
		ok    bool
	}{
		{"Rating: 5", 5, true},
		{" 5.", 5, true},
		{"I'd say 4", 4, true},
		{"6", 6, true},
		{"0 or 7, maybe 2", 2, true},
		{"none", 0, false},
		{"", 0, false},
		{"seven", 0, false},
		{"7/9", 0, false},
	}
	for _, c := range cases {
		t.Run(c.reply, func(t *testing.T) {
			got, ok := FirstDigit(c.reply)
			require.Equal(t, c.ok, ok)
			require.Equal(t, c.want, got)
		})
	}
}

func TestNewSpread(t *testing.T) {
	cases := []struct {
		name     string
		xs       []float64
		mean, sd float64
	}{
		{"three seeds", []float64{1, 2, 3}, 2, 1},
		{"sample SD, divisor n-1", []float64{2, 4, 4, 4, 5, 5, 7, 9}, 5, math.Sqrt(32.0 / 7)},
		{"one seed", []float64{1.5}, 1.5, 0},
		{"none", nil, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSpread(c.xs)
			require.Equal(t, len(c.xs), s.N)
			assert.InDelta(t, c.mean, s.Mean, 1e-12)
			assert.InDelta(t, c.sd, s.SD, 1e-12)
		})
	}
}

// fakeGenerator answers every prompt with reply(prompt, seed).
type fakeGenerator struct {
	reply func(p score.Prompt, seed uint64, index int) string
}

func (g *fakeGenerator) Generate(ctx context.Context, prompts []score.Prompt, opts score.GenerateOptions) ([]string, error) {
	out := make([]string, len(prompts))
	for i, p := range prompts {
		out[i] = g.reply(p, opts.Seed, opts.FirstIndex+i)
	}
	return out, nil
}

// The generated read-out over seeds: replies without a digit are missing and counted, the
// metrics per seed are summarised by mean and sample SD.
func TestRateGeneratedOverSeeds(t *testing.T) {
	in, err := Builtin()
	require.NoError(t, err)
	in, err = in.Subset(1, 1, 2)
	require.NoError(t, err)
	test := in.InSplits(SplitTest)
	targets, err := ParseTargets("Face")
	require.NoError(t, err)
	isFace := func(p score.Prompt) bool {
		for _, d := range test {
			if d.Value == Face && strings.Contains(p.Text, strings.TrimSpace(d.Text)) {
				return true
			}
		}
		return false
	}
	control := &fakeGenerator{reply: func(p score.Prompt, seed uint64, i int) string {
		if i == 0 {
			return "no idea"
		}
		return "Rating: 4"
	}}
	tuned := &fakeGenerator{reply: func(p score.Prompt, seed uint64, i int) string {
		if isFace(p) {
			return fmt.Sprintf(" %d.", 1+seed%2) // drop 3 with seed 0, 2 with seed 1
		}
		return "I'd say 4"
	}}
	seeds := []uint64{0, 1, 2}
	var cs, ts [][]Rating
	for _, s := range seeds {
		c, err := RateGenerated(context.Background(), control, in, test, GenerateRateOptions{Seed: s, BatchSize: 7})
		require.NoError(t, err)
		tr, err := RateGenerated(context.Background(), tuned, in, test, GenerateRateOptions{Seed: s, BatchSize: 7})
		require.NoError(t, err)
		require.Equal(t, 1, CountMissing(c))
		require.Equal(t, "no idea", c[0].Reply)
		cs, ts = append(cs, c), append(ts, tr)
	}
	m, err := InDomainOverSeeds(seeds, cs, ts, targets)
	require.NoError(t, err)
	require.Equal(t, 3, m.TargetDrop.N)
	assert.InDelta(t, (3+2+3)/3.0, m.TargetDrop.Mean, 1e-12)
	assert.InDelta(t, NewSpread([]float64{3, 2, 3}).SD, m.TargetDrop.SD, 1e-12)
	assert.InDelta(t, 0, m.OtherFluctuation.Mean, 1e-12)
	require.Equal(t, 3, m.MissingControl)
	require.Equal(t, 0, m.MissingTuned)
	require.Equal(t, 2, m.PerSeed[0].TargetPrompts)
	require.Equal(t, 19*2-1, m.PerSeed[0].OtherPrompts) // the missing pair is left out
	_, err = json.Marshal(m)
	require.NoError(t, err)

	_, err = InDomainOverSeeds(seeds, cs[:1], ts, targets)
	require.Error(t, err)
}

// The paper preset is the published protocol (protocol.md sections 2-8).
func TestPaperPreset(t *testing.T) {
	p := PaperPreset()
	require.NoError(t, p.Validate())
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(raw, &got))
	want := map[string]any{
		"preset": "paper", "instrument": "kvs_data_new.json", "variants": 27.0, "rank": 128.0, "alpha": 512.0, "dropout": 0.0,
		"targets": []any{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
		"lr":      1e-4, "warmup_ratio": 0.15, "batch": 16.0, "epochs": 10.0, "patience": 2.0, "min_delta": 0.01,
		"readout": "generate", "temperature": 0.5, "max_new_tokens": 8.0, "seeds": 3.0, "aita_cap": 500.0,
		"answer_only_loss": true,
	}
	for k, v := range want {
		require.Equal(t, v, got[k], k)
	}
	for _, k := range []string{"schedule", "max_grad_norm", "eos"} {
		require.Contains(t, p.Choices, k, "the paper preset explains its choice of %s", k)
	}
	lc, err := p.LoRA(3)
	require.NoError(t, err)
	require.Equal(t, 128, lc.Rank)
	require.Len(t, lc.Targets, 7)
	tc := p.Train(3)
	require.Equal(t, 16, tc.BatchSize*tc.Accum)
	require.Equal(t, "linear", string(tc.Schedule))

	d := DemoPreset()
	require.NoError(t, d.Validate())
	_, err = PresetByName("nope")
	require.ErrorContains(t, err, "demo or paper")
	bad := PaperPreset()
	bad.Batch = 10
	require.Error(t, bad.Validate())
}
