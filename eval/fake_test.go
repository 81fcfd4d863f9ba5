package eval

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/valora-go/valora/eval/score"
)

// fakeScorer is a deterministic Scorer for tests: it calls fn for every prompt.
type fakeScorer struct {
	fn    func(p score.Prompt, cands []string) ([]float64, error)
	calls int
}

func (f *fakeScorer) LogProbs(ctx context.Context, prompts []score.Prompt, cands [][]string) ([][]float64, error) {
	f.calls++
	out := make([][]float64, len(prompts))
	for i, p := range prompts {
		lp, err := f.fn(p, cands[i])
		if err != nil {
			return nil, err
		}
		out[i] = lp
	}
	return out, nil
}

// labelScorer returns log-probabilities log(p) for the AITA labels, where p is looked up by the
// first key of probs that the prompt text contains; the candidate order must be " NTA", " YTA",
// " Neutral" (any leading space ignored).
func labelScorer(probs map[string][3]float64) *fakeScorer {
	return &fakeScorer{fn: func(p score.Prompt, cands []string) ([]float64, error) {
		for key, pr := range probs {
			if strings.Contains(p.Text, key) {
				out := make([]float64, len(cands))
				for i, c := range cands {
					l, err := ParseLabel(c)
					if err != nil {
						return nil, err
					}
					out[i] = math.Log(pr[labelIndex(l)])
				}
				return out, nil
			}
		}
		return nil, fmt.Errorf("fake scorer: no entry for prompt %q", p.Text)
	}}
}

// wrongScorer returns log-probabilities for the default moral candidates " yes" (wrong) and
// " no" after the default prefix "Answer:", where p(wrong) is looked up by the first key of pWrong that the
// prompt text contains.
func wrongScorer(pWrong map[string]float64) *fakeScorer {
	return &fakeScorer{fn: func(p score.Prompt, cands []string) ([]float64, error) {
		if !slices.Equal(cands, []string{" yes", " no"}) || p.Prefix != "Answer:" {
			return nil, fmt.Errorf("fake scorer: candidates %q after the prefix %q, want the default moral prompt", cands, p.Prefix)
		}
		for key, pw := range pWrong {
			if strings.Contains(p.Text, key) {
				return []float64{math.Log(pw), math.Log(1 - pw)}, nil
			}
		}
		return nil, fmt.Errorf("fake scorer: no entry for prompt %q", p.Text)
	}}
}
