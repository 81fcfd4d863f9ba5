// Progress on stderr while an evaluation scores.

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/valora-go/valora/eval/score"
)

// progress is a Scorer that reports on stderr how many prompts one side has scored, at most
// every few seconds and when it is done. The evaluators score each side in order, in calls of
// a few prompts, so the count is the side's progress through the items.
type progress struct {
	s     score.Scorer
	name  string
	total int
	w     io.Writer
	done  int
	last  time.Time
}

const progressEvery = 10 * time.Second

func (p *progress) LogProbs(ctx context.Context, prompts []score.Prompt, candidates [][]string) ([][]float64, error) {
	if p.last.IsZero() {
		p.last = time.Now()
	}
	out, err := p.s.LogProbs(ctx, prompts, candidates)
	if err != nil {
		return nil, err
	}
	p.done += len(prompts)
	if time.Since(p.last) >= progressEvery || p.done == p.total {
		fmt.Fprintf(p.w, "evaluate: %s: %d/%d prompts scored\n", p.name, p.done, p.total)
		p.last = time.Now()
	}
	return out, nil
}
