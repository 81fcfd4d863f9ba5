package eval

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAITAPostsForAndCap(t *testing.T) {
	var posts []AITAPost
	for i := range 10 {
		v := "A"
		if i%3 == 0 {
			v = "B"
		}
		posts = append(posts, AITAPost{ID: fmt.Sprint(i), Value: v, High: NTA, Low: YTA})
	}
	cases := []struct {
		name  string
		value string
		limit int
		want  int
	}{
		{"all of A", "A", 0, 6},
		{"all of B", "B", 0, 4},
		{"A capped", "A", 2, 2},
		{"B under the cap", "B", 5, 4},
		{"unknown value", "C", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := AITAPostsFor(CapAITAPosts(posts, c.limit, 1), c.value)
			require.Len(t, got, c.want)
			for _, p := range got {
				require.Equal(t, c.value, p.Value)
			}
		})
	}
	// The sample is seeded: the same seed gives the same posts, in input order.
	a, b := CapAITAPosts(posts, 3, 9), CapAITAPosts(posts, 3, 9)
	require.Equal(t, a, b)
	require.Len(t, a, 6)
	for i := 1; i < len(a); i++ {
		var prev, cur int
		fmt.Sscan(a[i-1].ID, &prev)
		fmt.Sscan(a[i].ID, &cur)
		require.Less(t, prev, cur)
	}
}

// Per-target gains use only the target's posts; the headline weights every post once; the
// pooled figure covers every post; the base model gets its own gain against the control.
func TestRunAITATargets(t *testing.T) {
	posts := []AITAPost{
		{ID: "1", Value: "X", Text: "x1", High: NTA, Low: YTA},
		{ID: "2", Value: "X", Text: "x2", High: NTA, Low: YTA},
		{ID: "3", Value: "Y", Text: "y1", High: YTA, Low: NTA},
		{ID: "4", Value: "Z", Text: "z1", High: NTA, Low: YTA},
	}
	control := labelScorer(map[string][3]float64{"x1": {0.5, 0.3, 0.2}, "x2": {0.5, 0.3, 0.2}, "y1": {0.4, 0.4, 0.2}, "z1": {0.3, 0.3, 0.4}})
	tuned := labelScorer(map[string][3]float64{"x1": {0.4, 0.4, 0.2}, "x2": {0.3, 0.5, 0.2}, "y1": {0.5, 0.3, 0.2}, "z1": {0.6, 0.2, 0.2}})
	base := labelScorer(map[string][3]float64{"x1": {0.5, 0.3, 0.2}, "x2": {0.5, 0.3, 0.2}, "y1": {0.4, 0.4, 0.2}, "z1": {0.3, 0.3, 0.4}})
	r, err := RunAITATargets(context.Background(), base, control, tuned, posts, []string{"X", "Y", "W"}, AITATargetOptions{})
	require.NoError(t, err)
	require.Len(t, r.Targets, 3)
	x, y, w := r.Targets[0], r.Targets[1], r.Targets[2]
	require.Equal(t, 2, x.PG.N)
	assert.InDelta(t, 30, x.PG.Mean, 1e-9) // dp(YTA) - dp(NTA): 0.1+0.1 on x1, 0.2+0.2 on x2
	require.Equal(t, 1, y.PG.N)
	assert.InDelta(t, 20, y.PG.Mean, 1e-9)
	require.Equal(t, 0, w.PG.N)
	require.Equal(t, []string{"W"}, r.NoPosts)
	require.Equal(t, 3, r.Headline.N)
	assert.InDelta(t, (20+40+20)/3.0, r.Headline.Mean, 1e-9)
	require.Equal(t, 4, r.Pooled.N)
	assert.InDelta(t, 0, x.BasePG.Mean, 1e-12)
	require.Equal(t, 2, x.BasePG.N)
	require.Len(t, x.Probs, 3)
	require.Equal(t, "base", x.Probs[0].Model)
	assert.InDelta(t, 0.45, x.Probs[2].Low, 1e-9)
	require.Contains(t, r.Markdown(), "headline")

	_, err = RunAITATargets(context.Background(), nil, nil, tuned, posts, []string{"X"}, AITATargetOptions{})
	require.Error(t, err)
}
