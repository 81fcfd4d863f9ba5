package survey

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolveTarget(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  Direction
		want []Target
	}{
		{"Benevolence_dependability", 0, []Target{{BenevolenceDependability, Down}}},
		{"UNC", Up, []Target{{UniversalismConcern, Up}}},
		{"Power", 0, []Target{{PowerDominance, Down}, {PowerResources, Down}, {Face, Down}}},
		{"basic:Tradition", Up, []Target{{Tradition, Up}, {Humility, Up}}},
		{"power-minimisation", 0, []Target{{PowerDominance, Down}, {PowerResources, Down}, {Face, Down}}},
		{"Power minimization", 0, []Target{{PowerDominance, Down}, {PowerResources, Down}, {Face, Down}}},
		{"power-minimisation", Up, []Target{{PowerDominance, Up}, {PowerResources, Up}, {Face, Up}}},
		{"power-maximisation", 0, []Target{{PowerDominance, Up}, {PowerResources, Up}, {Face, Up}}},
	} {
		got, err := ResolveTarget(tc.name, tc.dir)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
	_, err := ResolveTarget("Greed", 0)
	assert.ErrorContains(t, err, `unknown target "Greed"`)
	_, err = ResolveTarget("Be creative", 0)
	assert.ErrorContains(t, err, `"Be creative" is a level-1 value`)
	_, err = ResolveTarget("Face", 3)
	assert.ErrorContains(t, err, "direction 3")

	got, err := ParseTargets("Benevolence_dependability=down, Universalism_concern=up")
	require.NoError(t, err)
	assert.Equal(t, []Target{{BenevolenceDependability, Down}, {UniversalismConcern, Up}}, got)
	got, err = ParseTargets("power-minimisation,Face")
	require.NoError(t, err)
	assert.Len(t, got, 3)
	_, err = ParseTargets("Face=up,power-minimisation")
	assert.ErrorContains(t, err, "Face both up and down")
	_, err = ParseTargets("Face=sideways")
	assert.ErrorContains(t, err, `"sideways"`)
	_, err = ParseTargets("Stimulation,Greed=up")
	assert.ErrorContains(t, err, `"Greed"`)
}

func testIntervention(t *testing.T, in *Instrument, wantTrain, wantVal int) {
	t.Helper()
	base, err := Profile(context.Background(), &fakeScorer{pref: valuePref(in), spread: 2}, in,
		ProfileOptions{Splits: []Split{SplitTrain, SplitValidation}})
	require.NoError(t, err)
	targets, err := ResolveTarget("power-minimisation", 0)
	require.NoError(t, err)
	data, err := Intervention(in, base.Baseline(), targets, RenderOptions{})
	require.NoError(t, err)
	c := data.Counts()
	assert.Equal(t, wantTrain, c.Train)
	assert.Equal(t, wantVal, c.Validation)
	// Power_dominance, Power_resources and Face: 5 level-1 values, 7 train and 2 validation
	// descriptions each, 27 variants.
	assert.Equal(t, 5*7*27, c.TargetTrain)
	assert.Equal(t, 5*2*27, c.TargetValidation)
	for _, r := range append(append([]Row(nil), data.Train...), data.Validation...) {
		require.NotEqual(t, SplitTest, r.Split)
		if r.Value == PowerDominance || r.Value == PowerResources || r.Value == Face {
			require.True(t, r.Target)
			require.Equal(t, "1", r.Answer)
		} else {
			require.False(t, r.Target)
			require.Equal(t, string(rune('1'+r.Value.CircleIndex()%6)), r.Answer, "baseline of %s", r.Value)
		}
	}
	assert.Equal(t, SplitTrain, data.Train[0].Split)
	assert.Equal(t, SplitValidation, data.Validation[0].Split)

	ctrl, err := Intervention(in, base.Baseline(), nil, RenderOptions{})
	require.NoError(t, err)
	cc := ctrl.Counts()
	assert.Equal(t, RowCounts{Train: wantTrain, Validation: wantVal}, cc)
	for _, r := range ctrl.Train {
		if r.Value == Face {
			require.Equal(t, "2", r.Answer) // Face is circle index 7 -> 2
		}
	}

	// A missing baseline rating is named.
	b := base.Baseline()
	delete(b, data.Train[0].Description)
	_, err = Intervention(in, b, nil, RenderOptions{})
	assert.ErrorContains(t, err, "no baseline rating")
}

func TestInterventionAuthors(t *testing.T) {
	in := loadAuthors(t)
	testIntervention(t, in, 10206, 2916)
}

func TestInterventionBuiltin(t *testing.T) {
	in, err := Builtin()
	require.NoError(t, err)
	testIntervention(t, in, 378*27, 108*27)
}

func TestWriteRowsJSONL(t *testing.T) {
	in, err := Builtin()
	require.NoError(t, err)
	b := Baseline{}
	for _, d := range in.Descriptions {
		b[d.Index] = 4
	}
	data, err := Intervention(in, b, []Target{{SelfDirectionThought, Up}}, RenderOptions{})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, WriteRowsJSONL(&buf, data.Train[:2]))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	var rec map[string]string
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &rec))
	assert.Equal(t, map[string]string{"prompt": data.Train[1].Prompt.Text, "prefix": "Score: ", "answer": "6"}, rec)
}
