package survey

import (
	"context"
	"errors"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/eval/score"
)

func TestReadDigits(t *testing.T) {
	// Weights 1,2,3,4,1,1 (sum 12): expected (1+4+9+16+5+6)/12 = 41/12, argmax 4.
	probs, exp, arg := ReadDigits([6]float64{0, math.Log(2), math.Log(3), math.Log(4), 0, 0})
	want := [6]float64{1.0 / 12, 2.0 / 12, 3.0 / 12, 4.0 / 12, 1.0 / 12, 1.0 / 12}
	for k := range 6 {
		assert.InDelta(t, want[k], probs[k], 1e-12)
	}
	assert.InDelta(t, 41.0/12, exp, 1e-12)
	assert.Equal(t, 4, arg)
	// Shift invariance, and the lower digit on a tie.
	probs, exp, arg = ReadDigits([6]float64{-7, -7, -7, -7, -7, -7})
	assert.InDelta(t, 1.0/6, probs[5], 1e-12)
	assert.InDelta(t, 3.5, exp, 1e-12)
	assert.Equal(t, 1, arg)
	_, _, arg = ReadDigits([6]float64{-3, -1, -2, -1, -9, -9})
	assert.Equal(t, 2, arg)
}

func TestSampleDigit(t *testing.T) {
	inf := math.Inf(-1)
	// Only digit 5 has mass.
	rng := rand.New(rand.NewSource(1))
	for range 100 {
		require.Equal(t, 5, SampleDigit([6]float64{inf, inf, inf, inf, 0, inf}, 0.5, rng))
	}
	// p ∝ (1, 2) at T = 1 is (1/3, 2/3); at T = 0.5 it is ∝ (1, 4) = (0.2, 0.8).
	for _, tc := range []struct {
		temp, p2 float64
	}{{1, 2.0 / 3}, {0.5, 0.8}} {
		rng := rand.New(rand.NewSource(42))
		n, twos := 20000, 0
		for range n {
			switch SampleDigit([6]float64{0, math.Log(2), inf, inf, inf, inf}, tc.temp, rng) {
			case 2:
				twos++
			case 1:
			default:
				t.Fatal("sampled a digit without mass")
			}
		}
		assert.InDelta(t, tc.p2, float64(twos)/float64(n), 0.015, "temperature %g", tc.temp)
	}
}

func TestVote(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ratings []int
		want    int
	}{
		{"clear majority", []int{3, 3, 4}, 3},
		{"single", []int{6}, 6},
		{"tie, equally close to the mean 3.5: the lower", []int{2, 2, 5, 5}, 2},
		{"tie, 5 closer to the mean 4", []int{2, 2, 5, 5, 6}, 5},
		{"three-way tie, 4 closest to the mean 11/3", []int{1, 1, 4, 4, 6, 6}, 4},
		{"two-way tie at the ends, mean 3.5: the lower", []int{1, 6}, 1},
		{"tie, 3 closer to the mean 2.8", []int{3, 3, 1, 1, 6}, 3},
		{"majority beats closeness", []int{1, 1, 1, 4, 5, 6}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Vote(tc.ratings)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := Vote(nil)
	assert.Error(t, err)
	_, err = Vote([]int{3, 7})
	assert.ErrorContains(t, err, "rating 1 is 7")
}

func TestRender(t *testing.T) {
	p, err := Render("Rate it:\n1 = low\n6 = high\n", "  I like tea. ", "My answer is {rating}", RenderOptions{})
	require.NoError(t, err)
	assert.Equal(t, score.Prompt{Text: "Rate it:\n1 = low\n6 = high\n\nStatement:\nI like tea.\n\n", Prefix: "My answer is "}, p)
	assert.Equal(t, "Rate it:\n1 = low\n6 = high\n\nStatement:\nI like tea.\n\nMy answer is ", p.Text+p.Prefix)
	assert.Equal(t, []string{"1", "2", "3", "4", "5", "6"}, RenderOptions{}.Candidates())

	p, err = Render("Rate it.", "I like tea.", "My answer is {rating}", RenderOptions{SpaceInCandidate: true})
	require.NoError(t, err)
	assert.Equal(t, "My answer is", p.Prefix)
	assert.Equal(t, " 6", RenderOptions{SpaceInCandidate: true}.Candidates()[5])

	_, err = Render("t", "d", "no placeholder", RenderOptions{})
	assert.ErrorContains(t, err, "no {rating}")
}

func TestVariants(t *testing.T) {
	in, err := Builtin()
	require.NoError(t, err)
	vs := in.Variants(in.Descriptions[3:5])
	require.Len(t, vs, 54)
	assert.Equal(t, Variant{Description: 3, Task: 0, Template: 0, Number: 0}, vs[0])
	assert.Equal(t, Variant{Description: 3, Task: 1, Template: 2, Number: 11}, vs[11])
	assert.Equal(t, Variant{Description: 4, Task: 2, Template: 8, Number: 26}, vs[53])
	p, err := in.Prompt(vs[11], RenderOptions{})
	require.NoError(t, err)
	assert.Equal(t, in.Tasks[1]+"\n\nStatement:\n"+in.Descriptions[3].Text+"\n\n", p.Text)
	assert.Equal(t, "My rating is ", p.Prefix)
	_, err = in.Prompt(Variant{Description: 9999}, RenderOptions{})
	assert.Error(t, err)
}

func TestRateLogitAndSampled(t *testing.T) {
	in, err := Builtin()
	require.NoError(t, err)
	descs := in.InSplits(SplitTest)
	f := &fakeScorer{pref: valuePref(in), spread: 3}
	rs, err := Rate(context.Background(), f, in, descs, RateOptions{BatchSize: 100})
	require.NoError(t, err)
	require.Len(t, rs, 108*27)
	for _, b := range f.batches {
		assert.LessOrEqual(t, b, 100)
	}
	assert.Len(t, f.batches, (108*27+99)/100)
	for _, r := range rs {
		want := r.Value.CircleIndex()%6 + 1
		require.Equal(t, want, r.Argmax)
		require.Equal(t, want, r.Rating)
		require.Equal(t, SplitTest, r.Split)
	}
	// Probabilities of the fake at the preferred digit 1 with spread 3: weights e^{-3k}.
	var z float64
	for k := range 6 {
		z += math.Exp(-3 * float64(k))
	}
	assert.InDelta(t, 1/z, rs[0].Probs[0], 1e-12)

	// Sampled mode is reproducible with a seed; at T=0.5 and spread 3 almost always the
	// preferred digit, but not always.
	f2 := &fakeScorer{pref: valuePref(in), spread: 1}
	opts := RateOptions{Mode: ModeSampled, Seed: 7, BatchSize: 50}
	a, err := Rate(context.Background(), f2, in, descs, opts)
	require.NoError(t, err)
	opts.BatchSize = 13 // batching does not change the draws
	b, err := Rate(context.Background(), f2, in, descs, opts)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	agree := 0
	for _, r := range a {
		if r.Rating == r.Argmax {
			agree++
		}
	}
	assert.Greater(t, agree, len(a)/2)
	assert.Less(t, agree, len(a))
}

func TestRateErrors(t *testing.T) {
	in, err := Builtin()
	require.NoError(t, err)
	descs := in.Descriptions[:2]
	_, err = Rate(context.Background(), &fakeScorer{fail: errors.New("boom")}, in, descs, RateOptions{})
	assert.ErrorContains(t, err, "boom")
	_, err = Rate(context.Background(), &fakeScorer{pref: valuePref(in), short: true}, in, descs, RateOptions{})
	assert.ErrorContains(t, err, "results for")
	_, err = Rate(context.Background(), &fakeScorer{pref: valuePref(in)}, in, descs, RateOptions{Mode: "greedy"})
	assert.ErrorContains(t, err, `unknown mode "greedy"`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Rate(ctx, &fakeScorer{pref: valuePref(in)}, in, descs, RateOptions{})
	assert.ErrorIs(t, err, context.Canceled)
}
