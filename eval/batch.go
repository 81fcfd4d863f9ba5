package eval

import (
	"context"
	"fmt"

	"github.com/valora-go/valora/eval/score"
)

// scoreAll scores every prompt with s in batches of batch prompts, checking ctx between
// batches, and checks the shape of the answer. what names the job in errors.
func scoreAll(ctx context.Context, s score.Scorer, prompts []score.Prompt, cands [][]string, batch int, what string) ([][]float64, error) {
	if s == nil {
		return nil, fmt.Errorf("eval: %s: nil scorer", what)
	}
	if batch <= 0 {
		batch = score.DefaultCallBatch
	}
	out := make([][]float64, 0, len(prompts))
	for lo := 0; lo < len(prompts); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("eval: %s: %w", what, err)
		}
		hi := min(lo+batch, len(prompts))
		lp, err := s.LogProbs(ctx, prompts[lo:hi], cands[lo:hi])
		if err != nil {
			return nil, fmt.Errorf("eval: %s: score prompts %d..%d: %w", what, lo, hi-1, err)
		}
		if len(lp) != hi-lo {
			return nil, fmt.Errorf("eval: %s: scorer returned %d results for %d prompts", what, len(lp), hi-lo)
		}
		for i := range lp {
			if len(lp[i]) != len(cands[lo+i]) {
				return nil, fmt.Errorf("eval: %s: prompt %d: scorer returned %d log-probs for %d candidates",
					what, lo+i, len(lp[i]), len(cands[lo+i]))
			}
		}
		out = append(out, lp...)
	}
	return out, nil
}
