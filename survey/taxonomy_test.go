package survey

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTaxonomy(t *testing.T) {
	vs := Values()
	require.Len(t, vs, 20)
	assert.Equal(t, SelfDirectionThought, vs[0])
	assert.Equal(t, UniversalismObjectivity, vs[19])
	assert.Len(t, Level1Values(), 54)
	assert.Len(t, BasicValues(), 10)
	assert.Equal(t, BasicPower, Face.Basic())
	assert.Equal(t, BasicTradition, Humility.Basic())
	assert.Equal(t, BasicBenevolence, BenevolenceDependability.Basic())
	assert.Equal(t, []Value{PowerDominance, PowerResources, Face}, BasicPower.Values())
	assert.Equal(t, []Value{Tradition, Humility}, BasicTradition.Values())
	assert.Equal(t, []HigherOrder{SelfEnhancement, Conservation}, Face.HigherOrder())
	assert.Equal(t, BenevolenceDependability, Level1("Have loyalty towards friends").Value())
	n := 0
	for _, b := range BasicValues() {
		n += len(b.Values())
	}
	assert.Equal(t, 20, n)
	// Border values count in both their groups.
	assert.Contains(t, OpennessToChange.Values(), Hedonism)
	assert.Contains(t, SelfEnhancement.Values(), Hedonism)
}

func TestParseAndResolve(t *testing.T) {
	for _, s := range []string{"Power_dominance", "Power: dominance", "POD", "power dominance"} {
		v, err := ParseValue(s)
		require.NoError(t, err, s)
		assert.Equal(t, PowerDominance, v)
	}
	_, err := ParseValue("Greed")
	assert.ErrorContains(t, err, `"Greed"`)

	for _, tc := range []struct {
		name  string
		want  []Value
		level Level
	}{
		{"Benevolence_dependability", []Value{BenevolenceDependability}, LevelValue},
		{"Power", []Value{PowerDominance, PowerResources, Face}, LevelBasic},
		{"Tradition", []Value{Tradition}, LevelValue},
		{"basic:Tradition", []Value{Tradition, Humility}, LevelBasic},
		{"Be humble", []Value{Humility}, LevelLevel1},
		{"Self-transcendence", SelfTranscendence.Values(), LevelHigherOrder},
	} {
		got, level, err := Resolve(tc.name)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
		assert.Equal(t, tc.level, level, tc.name)
	}
	_, _, err = Resolve("Greed")
	assert.ErrorContains(t, err, `"Greed"`)
}
