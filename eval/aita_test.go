package eval

import (
	"context"
	"flag"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valora-go/valora/eval/score"
)

func TestProbabilityGain(t *testing.T) {
	// Probabilities in the order NTA, YTA, Neutral; dp = tuned - control.
	tests := []struct {
		name            string
		tuned, control  LabelProbs
		high, low       Label
		wantPG, wantStr float64
	}{
		// dp = (-0.2, +0.2, 0): PG = dp(YTA) - dp(NTA) + 0.5*0 = 0.4.
		{"no unused change", LabelProbs{0.3, 0.5, 0.2}, LabelProbs{0.5, 0.3, 0.2}, NTA, YTA, 0.4, 0.4},
		// dp = (-0.3, +0.1, +0.2): strict = 0.1 + 0.3 = 0.4; PG = 0.4 + 0.5*0.2 = 0.5.
		{"unused gains", LabelProbs{0.3, 0.4, 0.3}, LabelProbs{0.6, 0.3, 0.1}, NTA, YTA, 0.5, 0.4},
		// Same probabilities, high YTA, low Neutral, unused NTA:
		// strict = dp(Neutral) - dp(YTA) = 0.2 - 0.1 = 0.1; PG = 0.1 + 0.5*(-0.3) = -0.05.
		{"neutral is low stance", LabelProbs{0.3, 0.4, 0.3}, LabelProbs{0.6, 0.3, 0.1}, YTA, Neutral, -0.05, 0.1},
		// Swapping the stances flips the strict term: strict = -0.4, PG = -0.4 + 0.1 = -0.3.
		{"reversed stances", LabelProbs{0.3, 0.4, 0.3}, LabelProbs{0.6, 0.3, 0.1}, YTA, NTA, -0.3, -0.4},
		{"no change", LabelProbs{0.2, 0.3, 0.5}, LabelProbs{0.2, 0.3, 0.5}, Neutral, NTA, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pg, strict, err := ProbabilityGain(tc.tuned, tc.control, tc.high, tc.low)
			require.NoError(t, err)
			assert.InDelta(t, tc.wantPG, pg, 1e-12)
			assert.InDelta(t, tc.wantStr, strict, 1e-12)
		})
	}
	_, _, err := ProbabilityGain(LabelProbs{}, LabelProbs{}, NTA, NTA)
	assert.Error(t, err)
	_, _, err = ProbabilityGain(LabelProbs{}, LabelProbs{}, NTA, "ESH")
	assert.Error(t, err)
}

func TestAITAOptionsPrompt(t *testing.T) {
	p := AITAOptions{}.Prompt("  my post \n")
	assert.Equal(t, DefaultAITAPrefix, p.Prefix)
	assert.Contains(t, p.Text, "\n\nmy post\n\n")
	assert.NotContains(t, p.Text, "{post}")

	p = AITAOptions{Template: "Post: {post}", NoPrefix: true}.Prompt("x")
	assert.Equal(t, score.Prompt{Text: "Post: x"}, p)

	_, err := RunAITA(context.Background(), labelScorer(nil), labelScorer(nil), []AITAPost{{Text: "x", High: NTA, Low: YTA}}, AITAOptions{Template: "no placeholder"})
	assert.ErrorContains(t, err, "{post}")
}

// aitaTestScorers gives a tuned and a control scorer for the posts of testdata/aita_stances.jsonl.
func aitaTestScorers() (tuned, control *fakeScorer) {
	control = labelScorer(map[string][3]float64{
		"birthday": {0.5, 0.3, 0.2},
		"brother":  {0.6, 0.3, 0.1},
		"roommate": {0.4, 0.4, 0.2},
	})
	tuned = labelScorer(map[string][3]float64{
		"birthday": {0.7, 0.2, 0.1}, // high YTA, low NTA: dp = (.2,-.1,-.1): PG = .2+.1-.05 = .25, strict .3
		"brother":  {0.3, 0.4, 0.3}, // high NTA, low Neutral: dp = (-.3,.1,.2): PG = .2+.3+.05 = .55, strict .5
		"roommate": {0.5, 0.3, 0.2}, // high NTA, low YTA: dp = (.1,-.1,0): PG = -.2, strict -.2
	})
	return tuned, control
}

func TestRunAITA(t *testing.T) {
	posts, err := LoadAITAStances("testdata/aita_stances.jsonl")
	require.NoError(t, err)
	tuned, control := aitaTestScorers()
	rep, err := RunAITA(context.Background(), tuned, control, posts, AITAOptions{BatchSize: 2})
	require.NoError(t, err)
	assert.Equal(t, 2, tuned.calls, "3 posts in batches of 2")

	require.Len(t, rep.Results, 3)
	wantPG := []float64{25, 55, -20}
	wantStrict := []float64{30, 50, -20}
	for i, r := range rep.Results {
		assert.InDelta(t, wantPG[i], r.PG, 1e-9, "post %d", i)
		assert.InDelta(t, wantStrict[i], r.PGStrict, 1e-9, "post %d", i)
	}
	assert.Equal(t, Neutral, rep.Results[0].Unused)
	assert.InDelta(t, 0.7, rep.Results[0].Tuned.Of(NTA), 1e-12)

	// Values sorted by name; example-weighted overall mean (25+55-20)/3 = 20.
	require.Len(t, rep.Values, 2)
	assert.Equal(t, "Achievement", rep.Values[0].Value)
	assert.Equal(t, 1, rep.Values[0].PG.N)
	assert.InDelta(t, 55, rep.Values[0].PG.Mean, 1e-9)
	assert.Equal(t, "Benevolence_caring", rep.Values[1].Value)
	assert.InDelta(t, 2.5, rep.Values[1].PG.Mean, 1e-9)
	// sd of {25,-20} = 45/sqrt 2, se = 22.5
	assert.InDelta(t, 22.5, rep.Values[1].PG.SE, 1e-9)
	assert.InDelta(t, 20, rep.Overall.Mean, 1e-9)
	assert.InDelta(t, 20, rep.OverallStrict.Mean, 1e-9)
	assert.InDelta(t, (55+2.5)/2, rep.MacroMean, 1e-9)
	assert.InDelta(t, (50+5)/2.0, rep.MacroMeanStrict, 1e-9)
	assert.InDelta(t, Summarize([]float64{25, 55, -20}).P, rep.Overall.P, 1e-12)

	// Markdown golden file.
	golden(t, "testdata/aita_report.md", rep.Markdown())
}

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		require.NoError(t, writeFile(path, []byte(got)))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), got)
}

func TestRunAITAErrors(t *testing.T) {
	posts := []AITAPost{{ID: "1", Value: "V", Text: "p", High: NTA, Low: YTA}}
	ok := labelScorer(map[string][3]float64{"p": {0.2, 0.3, 0.5}})
	ctx := context.Background()
	_, err := RunAITA(ctx, ok, nil, posts, AITAOptions{})
	assert.ErrorContains(t, err, "control")
	_, err = RunAITA(ctx, ok, ok, nil, AITAOptions{})
	assert.ErrorContains(t, err, "no posts")
	short := &fakeScorer{fn: func(p score.Prompt, c []string) ([]float64, error) { return []float64{0, 0}, nil }}
	_, err = RunAITA(ctx, short, ok, posts, AITAOptions{})
	assert.ErrorContains(t, err, "2 log-probs for 3 candidates")
	nan := &fakeScorer{fn: func(p score.Prompt, c []string) ([]float64, error) { return []float64{math.NaN(), 0, 0}, nil }}
	_, err = RunAITA(ctx, nan, ok, posts, AITAOptions{})
	assert.ErrorContains(t, err, "not a number")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = RunAITA(cctx, ok, ok, posts, AITAOptions{})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestRunAITACandidates(t *testing.T) {
	var seen []string
	s := &fakeScorer{fn: func(p score.Prompt, c []string) ([]float64, error) {
		seen = c
		return []float64{0, 0, 0}, nil
	}}
	posts := []AITAPost{{ID: "1", Value: "V", Text: "p", High: NTA, Low: YTA}}
	_, err := RunAITA(context.Background(), s, s, posts, AITAOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{" NTA", " YTA", " Neutral"}, seen)
	_, err = RunAITA(context.Background(), s, s, posts, AITAOptions{Prefix: "Verdict: ", Candidates: [3]string{"NTA", "YTA", "Neutral"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"NTA", "YTA", "Neutral"}, seen)
}
