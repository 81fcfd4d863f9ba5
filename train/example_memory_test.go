package train_test

import (
	"fmt"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/train"
)

// Estimate, before downloading it, the memory of training a rank-128 adapter on every
// projection of Llama-3.1-8B (bfloat16, mapped) at batch 4 x 96, with and without
// gradient checkpointing; PlanMemory would compare it with the memory available.
func ExampleEstimateMemoryConfig() {
	c := model.Config{ModelType: "llama", VocabSize: 128256, HiddenSize: 4096, IntermediateSize: 14336,
		NumLayers: 32, NumHeads: 32, NumKVHeads: 8, HeadDim: 128}
	s := train.StepShape{Batch: 4, Seq: 96}
	for _, ckpt := range []bool{false, true} {
		e, err := train.EstimateMemoryConfig(&c, "bfloat16", lora.DefaultConfig(), s, ckpt)
		if err != nil {
			panic(err)
		}
		fmt.Printf("checkpointing %v: weights %.1f GiB, adapter state %.1f GiB, activations %.1f GiB\n",
			ckpt, float64(e.Weights)/(1<<30), float64(e.Adapter)/(1<<30), float64(e.Activations)/(1<<30))
	}
	// Output:
	// checkpointing false: weights 14.0 GiB, adapter state 5.0 GiB, activations 3.4 GiB
	// checkpointing true: weights 14.0 GiB, adapter state 5.0 GiB, activations 0.4 GiB
}
