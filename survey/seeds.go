package survey

import (
	"fmt"
	"math"
)

// Spread summarises one metric over seeds: the per-seed values, their mean and their sample
// standard deviation (divisor N-1; 0 when N < 2).
type Spread struct {
	N      int       `json:"n"`
	Mean   float64   `json:"mean"`
	SD     float64   `json:"sd"`
	Values []float64 `json:"values"`
}

// NewSpread computes the Spread of xs.
func NewSpread(xs []float64) Spread {
	s := Spread{N: len(xs), Values: append([]float64{}, xs...)}
	if len(xs) == 0 {
		return s
	}
	for _, x := range xs {
		s.Mean += x
	}
	s.Mean /= float64(len(xs))
	if len(xs) < 2 {
		return s
	}
	var ss float64
	for _, x := range xs {
		ss += (x - s.Mean) * (x - s.Mean)
	}
	s.SD = math.Sqrt(ss / float64(len(xs)-1))
	return s
}

// String formats the spread as "mean ± SD".
func (s Spread) String() string { return fmt.Sprintf("%.3f ± %.3f", s.Mean, s.SD) }

// SeedMetrics are the in-domain metrics of a sampled read-out repeated over seeds: InDomain per
// seed, each metric summarised over the seeds.
type SeedMetrics struct {
	Seeds            []uint64          `json:"seeds"`
	PerSeed          []*InDomainResult `json:"per_seed"`
	TargetDrop       Spread            `json:"target_drop"`
	OtherFluctuation Spread            `json:"other_fluctuation"`
	TargetControl    Spread            `json:"target_control"`
	TargetTuned      Spread            `json:"target_tuned"`
	OtherControl     Spread            `json:"other_control"`
	OtherTuned       Spread            `json:"other_tuned"`
	// MissingControl and MissingTuned are the replies without a digit, summed over the seeds.
	MissingControl int `json:"missing_control"`
	MissingTuned   int `json:"missing_tuned"`
}

// InDomainOverSeeds computes InDomain on control[i] and tuned[i], the ratings read with
// seeds[i], and summarises every metric over the seeds (mean and sample SD).
func InDomainOverSeeds(seeds []uint64, control, tuned [][]Rating, targets []Target) (*SeedMetrics, error) {
	if len(seeds) == 0 || len(control) != len(seeds) || len(tuned) != len(seeds) {
		return nil, fmt.Errorf("survey: in-domain over seeds: %d seeds, %d control and %d tuned rating sets, want the same number (> 0)",
			len(seeds), len(control), len(tuned))
	}
	out := &SeedMetrics{Seeds: append([]uint64(nil), seeds...)}
	cols := make([][]float64, 6)
	for i, seed := range seeds {
		r, err := InDomain(control[i], tuned[i], targets, MetricOptions{})
		if err != nil {
			return nil, fmt.Errorf("survey: in-domain over seeds: seed %d: %w", seed, err)
		}
		out.PerSeed = append(out.PerSeed, r)
		for k, v := range []float64{r.TargetDrop, r.OtherFluctuation, r.TargetControl, r.TargetTuned, r.OtherControl, r.OtherTuned} {
			cols[k] = append(cols[k], v)
		}
		out.MissingControl += r.MissingControl
		out.MissingTuned += r.MissingTuned
	}
	out.TargetDrop, out.OtherFluctuation = NewSpread(cols[0]), NewSpread(cols[1])
	out.TargetControl, out.TargetTuned = NewSpread(cols[2]), NewSpread(cols[3])
	out.OtherControl, out.OtherTuned = NewSpread(cols[4]), NewSpread(cols[5])
	return out, nil
}
