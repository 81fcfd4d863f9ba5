package eval

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valora-go/valora/eval/score"
)

func TestReadEthicsCommonsense(t *testing.T) {
	in := "label,input,is_short,edited\n0,I helped an old lady across the road.,True,False\n1,\"AITA for x | long, body\",False,False\n1,I tossed an old lady across the road.,True,False\n"
	items, err := ReadEthicsCommonsense(strings.NewReader(in), "cm.csv", true)
	require.NoError(t, err)
	assert.Equal(t, []MoralItem{
		{ID: "0", Source: SourceEthicsCM, Text: "I helped an old lady across the road.", Wrong: false},
		{ID: "2", Source: SourceEthicsCM, Text: "I tossed an old lady across the road.", Wrong: true},
	}, items)
	items, err = ReadEthicsCommonsense(strings.NewReader(in), "cm.csv", false)
	require.NoError(t, err)
	assert.Len(t, items, 3)
	_, err = ReadEthicsCommonsense(strings.NewReader("label,input\n2,x\n"), "cm.csv", false)
	assert.ErrorContains(t, err, "cm.csv: row 0: field label")
	_, err = ReadEthicsCommonsense(strings.NewReader("a,b\n"), "cm.csv", false)
	assert.ErrorContains(t, err, `no column "label"`)
}

func TestReadMoralStories(t *testing.T) {
	in := `{"ID": "A1", "norm": "Be kind.", "moral_action": "Ann helps.", "label": "1"}
{"ID": "A0", "norm": "Be kind.", "immoral_action": "Ann mocks.", "label": "0"}
`
	items, err := ReadMoralStories(strings.NewReader(in), "ms.jsonl")
	require.NoError(t, err)
	assert.Equal(t, []MoralItem{
		{ID: "A1", Source: SourceMoralStories, Text: "Norm: Be kind.\nAction: Ann helps.", Wrong: false},
		{ID: "A0", Source: SourceMoralStories, Text: "Norm: Be kind.\nAction: Ann mocks.", Wrong: true},
	}, items)
	_, err = ReadMoralStories(strings.NewReader(`{"ID": "x", "norm": "n", "moral_action": "a", "label": "0"}`), "ms.jsonl")
	assert.ErrorContains(t, err, "ms.jsonl: line 1: field label")
	_, err = ReadMoralStories(strings.NewReader(`{"ID": "x", "norm": "n"}`), "ms.jsonl")
	assert.ErrorContains(t, err, "exactly one")
}

func TestLoadSharedMoral(t *testing.T) {
	dir := "../../shared/data"
	if _, err := os.Stat(dir); err != nil {
		t.Skip("shared data not present at ../../shared/data: ", err)
	}
	cm, err := LoadEthicsCommonsense(filepath.Join(dir, "ethics/cm_test.csv"), true)
	require.NoError(t, err)
	assert.Len(t, cm, 2109)
	wrong := 0
	for _, it := range cm {
		if it.Wrong {
			wrong++
		}
	}
	assert.Equal(t, 983, wrong)
	ms, err := LoadMoralStories(filepath.Join(dir, "moral_stories/original_ms_norm_distance_test.jsonl"))
	require.NoError(t, err)
	assert.Len(t, ms, 2000)
}

func TestRunMoral(t *testing.T) {
	items := []MoralItem{
		{ID: "a", Source: SourceEthicsCM, Text: "I kicked the dog.", Wrong: true},
		{ID: "b", Source: SourceEthicsCM, Text: "I fed the dog.", Wrong: false},
		{ID: "c", Source: SourceMoralStories, Text: "Norm: n\nAction: Bo lies.", Wrong: true},
	}
	// p(wrong) per item: control .8 .4 .4; tuned .6 .3 .7.
	mk := func(pw map[string]float64) *fakeScorer {
		return &fakeScorer{fn: func(p score.Prompt, c []string) ([]float64, error) {
			require.Equal(t, []string{" yes", " no"}, c)
			require.Equal(t, "Answer:", p.Prefix)
			for k, v := range pw {
				if strings.Contains(p.Text, k) {
					return []float64{logOf(v), logOf(1 - v)}, nil
				}
			}
			return nil, assert.AnError
		}}
	}
	control := mk(map[string]float64{"kicked": 0.8, "fed": 0.4, "lies": 0.4})
	tuned := mk(map[string]float64{"kicked": 0.6, "fed": 0.3, "lies": 0.7})
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
