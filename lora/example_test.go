package lora_test

import (
	"context"
	"fmt"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// Load a PEFT adapter and run the adapted model.
func ExampleLoad() {
	m, err := model.Load("../testdata/llama-tiny/model")
	if err != nil {
		panic(err)
	}
	defer m.Close()
	a, err := lora.Load("../testdata/llama-tiny/adapter", m)
	if err != nil {
		panic(err)
	}
	fmt.Printf("rank %d, alpha %g, scale %g, %d projections per layer\n", a.Config.Rank, a.Config.Alpha, a.Config.Scale(), len(a.Config.Targets))
	b, _ := model.NewBatch([][]int{{1, 5, 9}}, 0)
	out, err := m.Forward(context.Background(), b, model.Options{Rows: b.Last(), Adapter: a})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(out.Row(0)), "logits")
	// Output:
	// rank 16, alpha 64, scale 4, 7 projections per layer
	// 512 logits
}
