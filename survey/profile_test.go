package survey

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProfile(t *testing.T) {
	in, err := Builtin()
	require.NoError(t, err)
	f := &fakeScorer{pref: valuePref(in), spread: 2}
	res, err := Profile(context.Background(), f, in, ProfileOptions{Label: "fake", Rate: RateOptions{BatchSize: 512}})
	require.NoError(t, err)
	assert.Len(t, res.Ratings, 16038)
	assert.Len(t, res.Descriptions, 594)
	require.Len(t, res.Values, 20)
	require.Len(t, res.Level1, 54)
	require.Len(t, res.Basic, 10)
	for i, a := range res.Values {
		assert.Equal(t, string(Values()[i]), a.Name)
		assert.InDelta(t, float64(i%6+1), a.Majority, 1e-12, a.Name)
		assert.InDelta(t, float64(i%6+1), a.Rating, 1e-12, a.Name)
	}
	// Basic value Power: Power_dominance (index 5 -> 6), Power_resources (6 -> 1), Face (7 -> 2)
	// with 22, 11 and 22 descriptions: (22*6 + 11*1 + 22*2) / 55.
	for _, a := range res.Basic {
		if a.Name == string(BasicPower) {
			assert.Equal(t, 55, a.Descriptions)
			assert.InDelta(t, (22.0*6+11*1+22*2)/55, a.Majority, 1e-12)
		}
	}
	assert.Equal(t, [6]int{27, 0, 0, 0, 0, 0}, res.Descriptions[0].Votes)

	var js bytes.Buffer
	require.NoError(t, res.WriteJSON(&js))
	back, err := ReadProfile(&js)
	require.NoError(t, err)
	assert.Equal(t, res.Values, back.Values)
	assert.Equal(t, res.Baseline(), back.Baseline())

	var md bytes.Buffer
	require.NoError(t, res.WriteMarkdown(&md))
	assert.Contains(t, md.String(), "| Power_dominance | Power | 22 | 6.00 | 6.00 |")
	assert.Contains(t, md.String(), "# Value profile: fake")

	dir := t.TempDir()
	path := filepath.Join(dir, "profile.md")
	require.NoError(t, WriteFileAtomic(path, res.WriteMarkdown))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, md.String(), string(got))
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1, "no temporary file left")
}

func TestProfileSplitsAndAtomicFailure(t *testing.T) {
	in, err := Builtin()
	require.NoError(t, err)
	res, err := Profile(context.Background(), &fakeScorer{pref: valuePref(in), spread: 2}, in,
		ProfileOptions{Splits: []Split{SplitValidation}})
	require.NoError(t, err)
	assert.Len(t, res.Descriptions, 108)
	for _, d := range res.Descriptions {
		assert.Equal(t, SplitValidation, d.Split)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "x.json")
	err = WriteFileAtomic(path, func(w io.Writer) error { return assert.AnError })
	assert.ErrorIs(t, err, assert.AnError)
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)
}
