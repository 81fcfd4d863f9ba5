package train_test

import (
	"context"
	"fmt"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/tokenize"
	"github.com/valora-go/valora/train"
)

// Fine-tune a rank-8 adapter so that stories260k answers " Yes".
func ExampleTrainer() {
	m, err := model.Load("../testdata/stories260k")
	if err != nil {
		panic(err)
	}
	defer m.Close()
	tok, err := tokenize.Load("../testdata/stories260k")
	if err != nil {
		panic(err)
	}
	rows := []train.TextExample{
		{Prompt: "Lily saw a dog. Was she happy?", Answer: " Yes"},
		{Prompt: "Tom found a ball. Was he glad?", Answer: " Yes"},
		{Prompt: "The sun was warm. Did they play?", Answer: " Yes"},
		{Prompt: "Mom made a cake. Was it good?", Answer: " Yes"},
	}
	xs, err := train.Encode(tok, rows, tokenize.Chat{}, false)
	if err != nil {
		panic(err)
	}
	lc := lora.DefaultConfig()
	lc.Rank, lc.Alpha = 8, 32
	a, err := lora.New(m, lc)
	if err != nil {
		panic(err)
	}
	cfg := train.DefaultConfig()
	cfg.LR, cfg.Epochs, cfg.BatchSize, cfg.Accum, cfg.WarmupRatio = 1e-2, 10, 4, 1, 0
	tr, err := train.New(m, a, xs, nil, cfg)
	if err != nil {
		panic(err)
	}
	res, err := tr.Run(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d steps, loss fell: %v\n", res.Steps, res.LastLoss < res.FirstLoss/10)
	// Output: 10 steps, loss fell: true
}
