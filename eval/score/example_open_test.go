package score_test

import (
	"context"
	"fmt"
	"log"

	"github.com/valora-go/valora/eval/score"
)

// Opening a checkpoint directory in one call (weights, tokenizer, chat decision, generation
// config; an adapter directory with OpenOptions.Adapter) and scoring candidates with it.
func ExampleOpen() {
	s, err := score.Open("../../testdata/stories260k", score.OpenOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	prompts := []score.Prompt{{Text: "Lily went to the park.", Prefix: " She was"}}
	cands := [][]string{{" happy", " sad", " ballerina"}}
	logp, err := s.Scorer.LogProbs(context.Background(), prompts, cands)
	if err != nil {
		log.Fatal(err)
	}
	for i, p := range score.Normalize(logp[0], 1) {
		fmt.Printf("%q %.3f\n", cands[0][i], p)
	}
	// Output:
	// " happy" 0.292
	// " sad" 0.708
	// " ballerina" 0.000
}
