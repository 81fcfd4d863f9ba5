package eval

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunVerdicts(t *testing.T) {
	posts := []VerdictPost{
		{ID: "1", Text: "wedding", Verdict: VerdictYTA},
		{ID: "2", Text: "car", Verdict: VerdictNAH},
		{ID: "3", Text: "dog", Verdict: VerdictESH},
	}
	control := labelScorer(map[string][3]float64{"wedding": {0.3, 0.6, 0.1}, "car": {0.7, 0.2, 0.1}, "dog": {0.5, 0.2, 0.3}})
	tuned := labelScorer(map[string][3]float64{"wedding": {0.5, 0.4, 0.1}, "car": {0.6, 0.3, 0.1}, "dog": {0.2, 0.5, 0.3}})
	rep, err := RunVerdicts(context.Background(), tuned, control, posts, AITAOptions{})
	require.NoError(t, err)
	// control says wrong for wedding only: right on 1 and 2, wrong on 3 (ESH) -> 2/3.
	// tuned says wrong for dog only: wrong on 1, right on 2 and 3 -> 2/3.
	assert.InDelta(t, 2.0/3, rep.AccuracyControl, 1e-12)
	assert.InDelta(t, 2.0/3, rep.AccuracyTuned, 1e-12)
	require.Len(t, rep.Groups, 3)
	assert.Equal(t, []string{"ESH", "NAH", "YTA"}, []string{rep.Groups[0].Verdict, rep.Groups[1].Verdict, rep.Groups[2].Verdict})
	// shift of p(YTA): -20, +10, +30 -> mean 20/3 pp.
	assert.InDelta(t, 20.0/3, rep.All.Shift[YTA].Mean, 1e-9)
	assert.InDelta(t, (0.6+0.2+0.2)/3, rep.All.MeanControl[YTA], 1e-12)
	assert.Contains(t, rep.Markdown(), "| all | 3 | 0.667 | 0.667 |")
}
