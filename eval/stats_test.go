package eval

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want Summary
	}{
		// n=3, df=2: mean 2, sd 1, se 1/sqrt(3), t = 2*sqrt(3). The Student t CDF with 2 degrees of
		// freedom has the closed form F(t) = 1/2 + t/(2*sqrt(2+t^2)) (e.g. Wikipedia, "Student's
		// t-distribution", special cases), so P(T >= 2*sqrt 3) = 1/2 - sqrt(12)/(2*sqrt(14))
		// = 1/2 - sqrt(3/14).
		{"df2", []float64{1, 2, 3}, Summary{N: 3, Mean: 2, SD: 1, SE: 1 / math.Sqrt(3), T: 2 * math.Sqrt(3), DF: 2,
			P: 0.5 - math.Sqrt(3.0/14), PTwoSided: 1 - 2*math.Sqrt(3.0/14), Valid: true}},
		// n=2, df=1 (Cauchy): mean 2, sd sqrt 2, se 1, t = 2; F(t) = 1/2 + atan(t)/pi, so
		// P(T >= 2) = 1/2 - atan(2)/pi = 0.147584.
		{"df1", []float64{1, 3}, Summary{N: 2, Mean: 2, SD: math.Sqrt(2), SE: 1, T: 2, DF: 1,
			P: 0.5 - math.Atan(2)/math.Pi, PTwoSided: 1 - 2*math.Atan(2)/math.Pi, Valid: true}},
		// Negative mean: t = -2 with df 1, P(T >= -2) = 1/2 + atan(2)/pi.
		{"negative", []float64{-1, -3}, Summary{N: 2, Mean: -2, SD: math.Sqrt(2), SE: 1, T: -2, DF: 1,
			P: 0.5 + math.Atan(2)/math.Pi, PTwoSided: 1 - 2*math.Atan(2)/math.Pi, Valid: true}},
		{"empty", nil, Summary{P: 1, PTwoSided: 1}},
		{"single", []float64{5}, Summary{N: 1, Mean: 5, P: 1, PTwoSided: 1}},
		{"constant positive", []float64{2, 2, 2}, Summary{N: 3, Mean: 2, DF: 2, P: 0, PTwoSided: 0}},
		{"constant zero", []float64{0, 0}, Summary{N: 2, DF: 1, P: 1, PTwoSided: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Summarize(tc.xs)
			assert.Equal(t, tc.want.N, got.N)
			assert.Equal(t, tc.want.DF, got.DF)
			assert.Equal(t, tc.want.Valid, got.Valid)
			for _, f := range []struct {
				name      string
				got, want float64
			}{{"mean", got.Mean, tc.want.Mean}, {"sd", got.SD, tc.want.SD}, {"se", got.SE, tc.want.SE},
				{"t", got.T, tc.want.T}, {"p", got.P, tc.want.P}, {"p2", got.PTwoSided, tc.want.PTwoSided}} {
				assert.InDelta(t, f.want, f.got, 1e-12, f.name)
			}
		})
	}
}

func TestOneSidedTTestPTable(t *testing.T) {
	// Critical values from a standard t table (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2):
	// the upper 5% point is 1.812 for 10 df and 2.132 for 4 df; the upper 1% point is 2.764 for
	// 10 df. The table rounds t to 3 decimals, hence the tolerance.
	tests := []struct {
		t    float64
		df   int
		want float64
	}{{1.812, 10, 0.05}, {2.132, 4, 0.05}, {2.764, 10, 0.01}, {0, 7, 0.5}}
	for _, tc := range tests {
		assert.InDelta(t, tc.want, OneSidedTTestP(tc.t, tc.df), 2e-4, "t=%v df=%d", tc.t, tc.df)
	}
	assert.Equal(t, 1.0, OneSidedTTestP(3, 0))
	assert.Equal(t, 1.0, OneSidedTTestP(math.NaN(), 3))
}

func TestSummarizeTTestHandComputed(t *testing.T) {
	// xs = 0.1, 0.2, 0.3, -0.1, 0.5: mean 0.2, sum of squared deviations
	// 0.01+0+0.01+0.09+0.09 = 0.2, sd = sqrt(0.05), se = sqrt(0.01) = 0.1, t = 2.0, df = 4.
	// The t CDF with 4 degrees of freedom has the closed form (Wikipedia, "Student's
	// t-distribution", special cases) F(t) = 1/2 + (3/8) (t/sqrt(1+t^2/4)) (1 - t^2/(12 (1+t^2/4))).
	// At t = 2: 1/2 + (3/8)(2/sqrt 2)(1 - 4/24) = 1/2 + 1.25/sqrt(8), so
	// P(T_4 >= 2) = 1/2 - 1.25/sqrt(8) = 0.058058.
	s := Summarize([]float64{0.1, 0.2, 0.3, -0.1, 0.5})
	require.True(t, s.Valid)
	assert.InDelta(t, 2.0, s.T, 1e-12)
	assert.InDelta(t, 0.5-1.25/math.Sqrt(8), s.P, 1e-12) // 0.058058
}
