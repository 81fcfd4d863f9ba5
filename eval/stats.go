package eval

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Summary describes a sample of per-item numbers (for example the probability gains of the
// posts of one value, in percentage points): its size, mean, standard deviation, standard
// error of the mean (for error bars) and a one-sample t-test of the mean against 0.
//
// T and DF are the t statistic mean/SE and its degrees of freedom N-1. P is the one-sided
// p-value for H1: mean > 0, that is P(T_DF >= t) under a Student t distribution with DF
// degrees of freedom; PTwoSided is the two-sided p-value for H1: mean != 0.
//
// The test is defined (Valid) only when N >= 2 and SE > 0. When it is not, T is 0 and the
// p-values are their limits: with N >= 2 and SE = 0 (all items equal), P is 0 if the mean is
// positive and 1 otherwise, PTwoSided is 0 if the mean is not 0 and 1 otherwise; with N < 2
// both are 1 (no evidence). This keeps every field finite, so a Summary always encodes as JSON.
type Summary struct {
	N         int     `json:"n"`
	Mean      float64 `json:"mean"`
	SD        float64 `json:"sd"`
	SE        float64 `json:"se"`
	T         float64 `json:"t"`
	DF        int     `json:"df"`
	P         float64 `json:"p_one_sided"`
	PTwoSided float64 `json:"p_two_sided"`
	Valid     bool    `json:"test_valid"`
}

// Summarize computes the Summary of xs: the mean, the sample standard deviation (divisor
// N-1), SE = SD/sqrt(N), and the one-sample t-test of the mean against 0.
func Summarize(xs []float64) Summary {
	s := Summary{N: len(xs), P: 1, PTwoSided: 1}
	if len(xs) == 0 {
		return s
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	s.Mean = sum / float64(len(xs))
	if len(xs) < 2 {
		return s
	}
	var ss float64
	for _, x := range xs {
		d := x - s.Mean
		ss += d * d
	}
	s.SD = math.Sqrt(ss / float64(len(xs)-1))
	s.SE = s.SD / math.Sqrt(float64(len(xs)))
	s.DF = len(xs) - 1
	if s.SE == 0 || math.IsNaN(s.SE) {
		s.SE = 0
		if s.Mean > 0 {
			s.P = 0
		}
		if s.Mean != 0 {
			s.PTwoSided = 0
		}
		return s
	}
	s.T = s.Mean / s.SE
	s.P = OneSidedTTestP(s.T, s.DF)
	s.PTwoSided = math.Min(1, 2*math.Min(s.P, 1-s.P))
	s.Valid = true
	return s
}

// OneSidedTTestP is the one-sided p-value of a t statistic for H1: mean > 0, the upper tail
// P(T >= t) of a Student t distribution with df degrees of freedom (gonum's distuv.StudentsT).
// df must be at least 1; otherwise the result is 1.
func OneSidedTTestP(t float64, df int) float64 {
	if df < 1 || math.IsNaN(t) {
		return 1
	}
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Survival(t)
}
