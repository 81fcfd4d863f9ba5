package eval

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunMoral(t *testing.T) {
	items := []MoralItem{
		{ID: "a", Source: SourceEthicsCM, Text: "I kicked the dog.", Wrong: true},
		{ID: "b", Source: SourceEthicsCM, Text: "I fed the dog.", Wrong: false},
		{ID: "c", Source: SourceMoralStories, Text: "Norm: n\nAction: Bo lies.", Wrong: true},
	}
	// p(wrong) per item: control .8 .4 .4; tuned .6 .3 .7.
	control := wrongScorer(map[string]float64{"kicked": 0.8, "fed": 0.4, "lies": 0.4})
	tuned := wrongScorer(map[string]float64{"kicked": 0.6, "fed": 0.3, "lies": 0.7})
	rep, err := RunMoral(context.Background(), tuned, control, items, MoralOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Sources, 2)
	e := rep.Sources[0]
	assert.Equal(t, SourceEthicsCM, e.Source)
	assert.InDelta(t, 1.0, e.AccuracyControl, 1e-12)
	assert.InDelta(t, 1.0, e.AccuracyTuned, 1e-12)
	assert.InDelta(t, -15, e.ShiftWrong.Mean, 1e-9)  // (-20 - 10)/2
	assert.InDelta(t, -5, e.ShiftCorrect.Mean, 1e-9) // (-20 + 10)/2
	assert.InDelta(t, 2.0/3, rep.All.AccuracyControl, 1e-12)
	assert.InDelta(t, 1.0, rep.All.AccuracyTuned, 1e-12)
	assert.InDelta(t, 0, rep.All.ShiftWrong.Mean, 1e-9) // (-20 -10 +30)/3
	assert.Contains(t, rep.Markdown(), "| moral-stories | 1 | 0.000 | 1.000 |")
}
