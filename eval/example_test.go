package eval_test

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/eval/score"
)

// verdictScorer is a stand-in for a model-backed Scorer: it returns fixed label
// probabilities (as log-probabilities) depending on a word of the post.
type verdictScorer map[string][3]float64 // word -> p(NTA), p(YTA), p(Neutral)

func (s verdictScorer) LogProbs(ctx context.Context, prompts []score.Prompt, cands [][]string) ([][]float64, error) {
	out := make([][]float64, len(prompts))
	for i, p := range prompts {
		for word, pr := range s {
			if strings.Contains(p.Text, word) {
				out[i] = []float64{math.Log(pr[0]), math.Log(pr[1]), math.Log(pr[2])}
			}
		}
		if out[i] == nil {
			return nil, fmt.Errorf("no probabilities for prompt %d", i)
		}
	}
	return out, nil
}

func ExampleRunAITA() {
	posts := []eval.AITAPost{
		{ID: "1", Value: "Benevolence_dependability", Text: "I missed my sister's wedding for a work trip.", High: eval.YTA, Low: eval.NTA},
		{ID: "2", Value: "Benevolence_dependability", Text: "I refused to lend my car to a friend who crashed it before.", High: eval.NTA, Low: eval.YTA},
	}
	control := verdictScorer{"wedding": {0.3, 0.6, 0.1}, "car": {0.7, 0.2, 0.1}}
	tuned := verdictScorer{"wedding": {0.5, 0.4, 0.1}, "car": {0.6, 0.3, 0.1}}

	rep, err := eval.RunAITA(context.Background(), tuned, control, posts, eval.AITAOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rep.Results {
		fmt.Printf("post %s: PG %+.1f pp (strict %+.1f)\n", r.ID, r.PG, r.PGStrict)
	}
	for _, v := range rep.Values {
		fmt.Printf("%s: mean PG %+.1f pp, SE %.1f, one-sided p %.3f\n", v.Value, v.PG.Mean, v.PG.SE, v.PG.P)
	}
	fmt.Printf("all %d posts: %+.1f pp\n", rep.Overall.N, rep.Overall.Mean)
	// Output:
	// post 1: PG +40.0 pp (strict +40.0)
	// post 2: PG +20.0 pp (strict +20.0)
	// Benevolence_dependability: mean PG +30.0 pp, SE 10.0, one-sided p 0.102
	// all 2 posts: +30.0 pp
}
