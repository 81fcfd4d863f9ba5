package survey

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/valora-go/valora/eval/score"
)

// fakeScorer prefers, for every prompt, the digit pref(prompt): log-probability
// -spread*|k - pref| for candidate k (candidates must be the digits, with or without a
// leading space). It records the batch sizes it was called with.
type fakeScorer struct {
	pref    func(score.Prompt) int
	spread  float64
	batches []int
	fail    error
	short   bool // return one result too few
}

func (f *fakeScorer) LogProbs(ctx context.Context, prompts []score.Prompt, candidates [][]string) ([][]float64, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	f.batches = append(f.batches, len(prompts))
	out := make([][]float64, len(prompts))
	for i, p := range prompts {
		want := f.pref(p)
		out[i] = make([]float64, len(candidates[i]))
		for j, c := range candidates[i] {
			var k int
			if _, err := fmt.Sscanf(strings.TrimSpace(c), "%d", &k); err != nil {
				return nil, fmt.Errorf("fake: candidate %q is no digit", c)
			}
			out[i][j] = -f.spread * math.Abs(float64(k-want))
		}
	}
	if f.short {
		out = out[:len(out)-1]
	}
	return out, nil
}

// valuePref makes a fake model whose rating of a description depends on its value: the
// value's circle index mod 6, plus 1.
func valuePref(in *Instrument) func(score.Prompt) int {
	byText := map[string]Value{}
	for _, d := range in.Descriptions {
		byText[strings.TrimSpace(d.Text)] = d.Value
	}
	return func(p score.Prompt) int {
		_, rest, _ := strings.Cut(p.Text, "\n\nStatement:\n")
		v := byText[strings.TrimSuffix(rest, "\n\n")]
		return v.CircleIndex()%6 + 1
	}
}
