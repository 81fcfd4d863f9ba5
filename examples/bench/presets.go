package main

import (
	"slices"
	"strings"

	"github.com/valora-go/valora/model"
)

// preset is a benchmark shape: the model's configuration and the adapter's default rank and
// alpha. The small shapes are those of the PyTorch harness's PRESETS
// (../shared/bench/torch_lora_bench.py); the full-size ones are the published configs of the
// models the original work tuned, whose weights only fit as bfloat16 in a file (-dtype bf16,
// written to -scratch, or a real checkpoint given with -model).
type preset struct {
	name  string
	cfg   model.Config
	rank  int
	alpha float64
	// full: a full-size shape: bf16 weights by default, one untimed-free repeat of each phase
	// (-steps 1 -warmup 0) unless the flags say otherwise.
	full bool
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
		{name: "qwen3-0.6b", cfg: model.Qwen3_0_6BConfig(), rank: 128, alpha: 512},
		// the full-size models of the original work (their config.json)
		{name: "llama3.1-8b", cfg: llama31_8b, rank: 128, alpha: 512, full: true},
		{name: "qwen3-8b", cfg: qwen3_8b, rank: 128, alpha: 512, full: true},
		{name: "falcon3-7b", cfg: falcon3_7b, rank: 128, alpha: 512, full: true},
	}
}

// The full-size shapes, from the config.json of meta-llama/Llama-3.1-8B-Instruct,
// Qwen/Qwen3-8B and tiiuae/Falcon3-7B-Instruct (a Llama architecture).
var (
	llama31_8b = model.Config{
		Architecture: "LlamaForCausalLM", ModelType: "llama", VocabSize: 128256, HiddenSize: 4096,
		IntermediateSize: 14336, NumLayers: 32, NumHeads: 32, NumKVHeads: 8, HeadDim: 128,
		RMSNormEps: 1e-5, RopeTheta: 500000,
		Rope:         model.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192},
		MaxPositions: 131072, BOSTokenID: 128000, EOSTokenIDs: []int{128001, 128008, 128009}, DType: "bfloat16",
	}
	qwen3_8b = model.Config{
		Architecture: "Qwen3ForCausalLM", ModelType: "qwen3", VocabSize: 151936, HiddenSize: 4096,
		IntermediateSize: 12288, NumLayers: 36, NumHeads: 32, NumKVHeads: 8, HeadDim: 128,
		RMSNormEps: 1e-6, RopeTheta: 1e6, Rope: model.RopeScaling{Type: "default"}, MaxPositions: 40960,
		QKNorm: true, BOSTokenID: 151643, EOSTokenIDs: []int{151645}, DType: "bfloat16",
	}
	falcon3_7b = model.Config{
		Architecture: "LlamaForCausalLM", ModelType: "llama", VocabSize: 131072, HiddenSize: 3072,
		IntermediateSize: 23040, NumLayers: 28, NumHeads: 12, NumKVHeads: 4, HeadDim: 256,
		RMSNormEps: 1e-6, RopeTheta: 1000042, Rope: model.RopeScaling{Type: "default"}, MaxPositions: 32768,
		BOSTokenID: -1, DType: "bfloat16",
	}
)

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
