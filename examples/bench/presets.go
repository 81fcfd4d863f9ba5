package main

import (
	"slices"
	"strings"

	"github.com/valora-go/valora/model"
)

// preset is a benchmark shape: the model's configuration and the adapter's default rank and
// alpha. The shapes are those of the PyTorch harness's PRESETS (../shared/bench/torch_lora_bench.py).
// Full-size presets (weights too large to hold in float32, e.g. bf16 with a scratch directory)
// would add their fields here.
type preset struct {
	name  string
	cfg   model.Config
	rank  int
	alpha float64
}

// presets returns the table of presets, in the order -h lists them.
func presets() []preset {
	llama := func(vocab, hidden, inter, layers, heads, kv, headDim int) model.Config {
		return model.Config{
			Architecture: "LlamaForCausalLM", ModelType: "llama", VocabSize: vocab, HiddenSize: hidden,
			IntermediateSize: inter, NumLayers: layers, NumHeads: heads, NumKVHeads: kv, HeadDim: headDim,
			RMSNormEps: 1e-5, RopeTheta: 10000, Rope: model.RopeScaling{Type: "default"},
			MaxPositions: 2048, BOSTokenID: -1, DType: "float32",
		}
	}
	return []preset{
		// the llama-tiny fixture's shape
		{name: "tiny", cfg: llama(512, 64, 176, 2, 4, 2, 16), rank: 16, alpha: 64},
		{name: "small", cfg: llama(32000, 512, 1536, 8, 8, 4, 64), rank: 128, alpha: 512},
		// Qwen/Qwen3-0.6B's shape: q/k norms, tied embeddings
		{name: "qwen3-0.6b", cfg: model.Qwen3_0_6B, rank: 128, alpha: 512},
	}
}

// findPreset returns the preset called name.
func findPreset(name string) (preset, bool) {
	ps := presets()
	i := slices.IndexFunc(ps, func(p preset) bool { return p.name == name })
	if i < 0 {
		return preset{}, false
	}
	return ps[i], true
}

// presetNames lists the presets' names, joined with "|".
func presetNames() string {
	var names []string
	for _, p := range presets() {
		names = append(names, p.name)
	}
	return strings.Join(names, "|")
}
