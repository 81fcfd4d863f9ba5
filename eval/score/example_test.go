package score_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/tokenize"
)

// Scoring candidate continuations with a small story model. " ballerina" takes five tokens;
// the prompt is computed once for all three candidates.
func ExampleNew() {
	const dir = "../../testdata/stories260k"
	m, errModel := model.Load(dir)
	tok, errTok := tokenize.Load(dir)
	if err := errors.Join(errModel, errTok); err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	s, err := score.New(m, tok, score.Options{})
	if err != nil {
		log.Fatal(err)
	}
	prompts := []score.Prompt{{Text: "Lily went to the park.", Prefix: " She was"}}
	cands := [][]string{{" happy", " sad", " ballerina"}}
	logp, err := s.LogProbs(context.Background(), prompts, cands)
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
