package model_test

import (
	"context"
	"fmt"

	"github.com/valora-go/valora/model"
)

// Load a checkpoint and read the next-token logits of a prompt.
func ExampleLoad() {
	m, err := model.Load("../testdata/stories260k")
	if err != nil {
		panic(err)
	}
	defer m.Close()
	fmt.Println(m.Config.Architecture, m.Config.NumLayers, "layers")
	// "Once upon a time" as stories260k's tokenizer writes it, after BOS.
	b, err := model.NewBatch([][]int{{1, 403, 407, 261, 378}}, 0)
	if err != nil {
		panic(err)
	}
	out, err := m.Forward(context.Background(), b, model.Options{Rows: b.Last()})
	if err != nil {
		panic(err)
	}
	next, best := 0, out.Row(0)[0]
	for id, v := range out.Row(0) {
		if v > best {
			next, best = id, v
		}
	}
	fmt.Println("next token:", next)
	// Output:
	// LlamaForCausalLM 5 layers
	// next token: 432
}
