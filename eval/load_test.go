package eval

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharedData returns the folder dir of the shared data sets (../../shared/data), skipping the
// test when it is not present.
func sharedData(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join("../../shared/data", dir)
	if _, err := os.Stat(p); err != nil {
		t.Skip("shared data not present at ", p, ": ", err)
	}
	return p
}

func TestReadAITAStances(t *testing.T) {
	posts, err := LoadAITAStances("testdata/aita_stances.jsonl")
	require.NoError(t, err)
	require.Len(t, posts, 3)
	assert.Equal(t, AITAPost{ID: "1", Value: "Benevolence_caring", Text: "  I skipped my friend's birthday to study. AITA?\n", High: YTA, Low: NTA}, posts[0])
	assert.Equal(t, "3", posts[1].ID) // line numbers count the empty line
	assert.Equal(t, Neutral, posts[1].Low)
	assert.Equal(t, YTA, posts[1].Unused())

	bad := []struct{ name, line, wantErr string }{
		{"same stances", `{"value":"V","post":"p","high_standard_stance":"NTA","low_standard_stance":"NTA"}`, "both NTA"},
		{"unknown label", `{"value":"V","post":"p","high_standard_stance":"ESH","low_standard_stance":"NTA"}`, `unknown label "ESH"`},
		{"missing post", `{"value":"V","high_standard_stance":"YTA","low_standard_stance":"NTA"}`, "field post"},
		{"not json", `{"value":`, "line 2"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			in := `{"value":"V","post":"ok","high_standard_stance":"YTA","low_standard_stance":"NTA"}` + "\n" + tc.line + "\n"
			_, err := ReadAITAStances(strings.NewReader(in), "x.jsonl")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "x.jsonl")
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestLoadSharedAITA(t *testing.T) {
	dir := sharedData(t, "aita")
	posts, err := LoadAITAStances(filepath.Join(dir, "aita_value_stances_sample.jsonl"))
	require.NoError(t, err)
	assert.Len(t, posts, 715) // counts from aita/README.md
	high := map[Label]int{}
	for _, p := range posts {
		high[p.High]++
	}
	assert.Equal(t, map[Label]int{NTA: 483, YTA: 221, Neutral: 11}, high)

	fg, err := LoadAITAVerdicts(filepath.Join(dir, "aita_fionasguo_607.jsonl"))
	require.NoError(t, err)
	require.Len(t, fg, 607)
	counts := map[Verdict]int{}
	for _, p := range fg {
		counts[p.Verdict]++
	}
	assert.Equal(t, map[Verdict]int{VerdictNTA: 361, VerdictYTA: 118, VerdictNAH: 104, VerdictESH: 24}, counts)

	ea, err := LoadEthicsAITA(filepath.Join(dir, "ethics_cm_test_long_aita_1776.jsonl"))
	require.NoError(t, err)
	require.Len(t, ea, 1776)
	yta := 0
	for _, p := range ea {
		if p.Verdict == VerdictYTA {
			yta++
		}
	}
	assert.Equal(t, 833, yta)
	assert.Equal(t, "2109", ea[0].ID)
	assert.True(t, strings.HasPrefix(ea[0].Text, "AITA for telling my friends why my sister gets extra time on tests?\n\nMy twin sister"))
}

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
	cm, err := LoadEthicsCommonsense(filepath.Join(sharedData(t, "ethics"), "cm_test.csv"), true)
	require.NoError(t, err)
	assert.Len(t, cm, 2109)
	wrong := 0
	for _, it := range cm {
		if it.Wrong {
			wrong++
		}
	}
	assert.Equal(t, 983, wrong)
	ms, err := LoadMoralStories(filepath.Join(sharedData(t, "moral_stories"), "original_ms_norm_distance_test.jsonl"))
	require.NoError(t, err)
	assert.Len(t, ms, 2000)
}
