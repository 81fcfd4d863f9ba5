package survey

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/eval/score"
)

func rt(desc, variant int, v Value, s Split, rating int, expected float64) Rating {
	return Rating{Variant: Variant{Description: desc, Number: variant}, Value: v, Split: s, Rating: rating, Expected: expected}
}

func TestInDomainHand(t *testing.T) {
	control := []Rating{
		rt(1, 0, PowerDominance, SplitTest, 5, 5.0),
		rt(1, 1, PowerDominance, SplitTest, 4, 4.5),
		rt(2, 0, BenevolenceCaring, SplitTest, 3, 3.0),
		rt(2, 1, BenevolenceCaring, SplitTest, 3, 3.0),
		rt(3, 0, BenevolenceCaring, SplitTest, 6, 5.5),
		rt(9, 0, BenevolenceCaring, SplitTrain, 6, 6), // not test: ignored
	}
	tuned := []Rating{
		rt(3, 0, BenevolenceCaring, SplitTest, 5, 5.0),
		rt(1, 0, PowerDominance, SplitTest, 1, 1.5),
		rt(1, 1, PowerDominance, SplitTest, 2, 2.0),
		rt(2, 0, BenevolenceCaring, SplitTest, 4, 3.5),
		rt(2, 1, BenevolenceCaring, SplitTest, 3, 3.0),
		rt(9, 0, BenevolenceCaring, SplitTrain, 1, 1),
	}
	targets := []Target{{PowerDominance, Down}}
	res, err := InDomain(control, tuned, targets, MetricOptions{})
	require.NoError(t, err)
	// Drop: ((5-1) + (4-2)) / 2 = 3; fluctuation: (|4-3| + |3-3| + |5-6|) / 3 = 2/3.
	assert.InDelta(t, 3.0, res.TargetDrop, 1e-12)
	assert.Equal(t, 2, res.TargetPrompts)
	assert.InDelta(t, 2.0/3, res.OtherFluctuation, 1e-12)
	assert.Equal(t, 3, res.OtherPrompts)
	require.Len(t, res.PerValue, 2)
	assert.Equal(t, ValueShift{Value: PowerDominance, Target: true, Direction: Down, Prompts: 2, Control: 4.5, Tuned: 1.5, Drop: 3, Fluctuation: 3}, res.PerValue[0])
	bc := res.PerValue[1]
	assert.Equal(t, BenevolenceCaring, bc.Value)
	assert.False(t, bc.Target)
	assert.InDelta(t, 4.0, bc.Control, 1e-12)
	assert.InDelta(t, 4.0, bc.Tuned, 1e-12)
	assert.InDelta(t, 0.0, bc.Drop, 1e-12)
	assert.InDelta(t, 2.0/3, bc.Fluctuation, 1e-12)

	// Expected ratings: drop ((5-1.5) + (4.5-2)) / 2 = 3; fluctuation (0.5 + 0 + 0.5) / 3.
	res, err = InDomain(control, tuned, targets, MetricOptions{Expected: true})
	require.NoError(t, err)
	assert.InDelta(t, 3.0, res.TargetDrop, 1e-12)
	assert.InDelta(t, 1.0/3, res.OtherFluctuation, 1e-12)

	_, err = InDomain(control, tuned[1:], targets, MetricOptions{})
	assert.ErrorContains(t, err, "matched")
	_, err = InDomain(control[:4], tuned, targets, MetricOptions{})
	assert.ErrorContains(t, err, "description 3 variant 0 has no control rating")
}

func TestInDomainScorers(t *testing.T) {
	in, err := Builtin()
	require.NoError(t, err)
	control := &fakeScorer{pref: valuePref(in), spread: 5}
	// The tuned fake rates Power_dominance 1 (the control rates it 6) and Stimulation 4
	// instead of 3, everything else as the control.
	base := valuePref(in)
	byText := map[string]Value{}
	for _, d := range in.Descriptions {
		byText[d.Text] = d.Value
	}
	tuned := &fakeScorer{spread: 5, pref: func(p score.Prompt) int {
		for text, v := range byText {
			if p.Text[len(p.Text)-len(text)-2:len(p.Text)-2] == text {
				switch v {
				case PowerDominance:
					return 1
				case Stimulation:
					return 4
				}
			}
		}
		return base(p)
	}}
	res, err := InDomainScorers(context.Background(), control, tuned, in, []Target{{PowerDominance, Down}}, RateOptions{}, MetricOptions{})
	require.NoError(t, err)
	assert.Equal(t, 4*27, res.TargetPrompts)
	assert.InDelta(t, 5.0, res.TargetDrop, 1e-12)
	assert.Equal(t, 104*27, res.OtherPrompts)
	// Stimulation: 6 test descriptions of 104 non-target ones move by 1.
	assert.InDelta(t, 6.0/104, res.OtherFluctuation, 1e-12)
}

func TestInDomainMarkdown(t *testing.T) {
	r := &InDomainResult{TargetDrop: 1.5, TargetPrompts: 2, OtherFluctuation: 0.25, OtherPrompts: 4, PerValue: []ValueShift{
		{Value: PowerDominance, Target: true, Direction: Down, Prompts: 2, Control: 4, Tuned: 2.5, Drop: 1.5, Fluctuation: 1.5},
		{Value: Hedonism, Prompts: 4, Control: 3, Tuned: 3.25, Drop: -0.25, Fluctuation: 0.25},
	}}
	md := r.Markdown()
	require.Contains(t, md, "Target rating drop (control - tuned): **1.500** over 2 prompts")
	require.Contains(t, md, "| Power_dominance | down | 2 | 4.000 | 2.500 | 1.500 | 1.500 |")
	require.Contains(t, md, "| Hedonism |  | 4 | 3.000 | 3.250 | -0.250 | 0.250 |")
}
