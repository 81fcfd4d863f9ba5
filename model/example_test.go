package model_test

import (
	"context"
	"fmt"
	"log"
	"slices"

	"github.com/valora-go/valora/model"
)

// Load a checkpoint and read the next-token logits of a prompt.
func ExampleLoad() {
	m, err := model.Load("../testdata/stories260k")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	fmt.Println(m.Config.Architecture, m.Config.NumLayers, "layers")
	// "Once upon a time" as stories260k's tokenizer writes it, after BOS.
	b, err := model.NewBatch([][]int{{1, 403, 407, 261, 378}}, 0)
	if err != nil {
		log.Fatal(err)
	}
	out, err := m.Forward(context.Background(), b, model.Options{Rows: b.Last()})
	if err != nil {
		log.Fatal(err)
	}
	logits := out.Row(0)
	fmt.Println("next token:", slices.Index(logits, slices.Max(logits)))
	// Output:
	// LlamaForCausalLM 5 layers
	// next token: 432
}

// A prompt computed once, then continued two ways in one batch.
func ExampleCache() {
	m, err := model.Load("../testdata/stories260k")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	prompt := []int{1, 403, 407, 261, 378} // <s> Once upon a time

	var cache model.Cache
	b, err := model.NewBatch([][]int{prompt}, 0)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.Forward(ctx, b, model.Options{Cache: &cache}); err != nil {
		log.Fatal(err)
	}
	two, err := cache.Expand(2)
	if err != nil {
		log.Fatal(err)
	}
	// Row 0 continues with " there" (383), row 1 with " happy" (393).
	next := model.Batch{B: 2, T: 1, IDs: []int32{383, 393}}
	out, err := m.Forward(ctx, next, model.Options{Cache: two})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("cached tokens per row:", two.Len())
	for i := range 2 {
		row := out.Row(i)
		fmt.Println("row", i, "next token:", slices.Index(row, slices.Max(row)))
	}
	// Output:
	// cached tokens per row: 6
	// row 0 next token: 286
	// row 1 next token: 298
}
