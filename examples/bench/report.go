// The result line: timing statistics, memory readings, the model's shape and FLOP counts,
// and the JSON the program prints.

package main

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/valora-go/valora/model"
)

// stats summarises the timed repeats of a phase.
type stats struct {
	MedianS        float64 `json:"median_s"`
	MinS           float64 `json:"min_s"`
	MaxS           float64 `json:"max_s"`
	N              int     `json:"n"`
	SamplesPerS    float64 `json:"samples_per_s"`
	TokensPerS     float64 `json:"tokens_per_s"`
	AchievedGFLOPS float64 `json:"achieved_gflops"`
}

// rssMB holds peak resident set sizes (ru_maxrss) in MiB after each phase.
type rssMB struct {
	AfterBuildPeak float64 `json:"after_build_peak"`
	AfterScorePeak float64 `json:"after_score_peak,omitempty"`
	AfterTrainPeak float64 `json:"after_train_peak,omitempty"`
	Peak           float64 `json:"peak"`
}

// memMB is the memory estimate (train.MemoryEstimate) in MiB.
type memMB struct {
	Weights     float64 `json:"weights"`
	Embedding   float64 `json:"embedding"`
	Adapter     float64 `json:"adapter"`
	Activations float64 `json:"activations"`
	Overhead    float64 `json:"overhead"`
	Total       float64 `json:"total"`
}

// result is the JSON line. Phases that did not run leave their keys out.
type result struct {
	Bench            string             `json:"bench"`
	Preset           string             `json:"preset"`
	Workload         string             `json:"workload"`
	PrefixSharing    bool               `json:"prefix_sharing"`
	CPU              string             `json:"cpu"`
	Kernel           string             `json:"kernel"`
	Go               string             `json:"go"`
	Threads          int                `json:"threads"`
	Batch            int                `json:"batch"`
	Seq              int                `json:"seq"`
	Rank             int                `json:"rank"`
	Alpha            float64            `json:"alpha"`
	Warmup           int                `json:"warmup"`
	Seed             uint64             `json:"seed"`
	Model            map[string]any     `json:"model"`
	Env              map[string]string  `json:"env"`
	Params           map[string]int     `json:"params"`
	Flops            map[string]float64 `json:"flops"`
	BuildS           float64            `json:"build_s"`
	ScoreSamplesPerS *float64           `json:"score_samples_per_s,omitempty"`
	TrainSamplesPerS *float64           `json:"train_samples_per_s,omitempty"`
	PeakRSSMB        float64            `json:"peak_rss_mb"`
	Score            *stats             `json:"score,omitempty"`
	Train            *stats             `json:"train,omitempty"`
	Losses           []float64          `json:"losses,omitempty"`
	GemmGFLOPS       map[string]float64 `json:"gemm_gflops,omitempty"`
	GemmPeakGFLOPS   float64            `json:"gemm_peak_gflops,omitempty"`
	RSSMB            rssMB              `json:"rss_mb"`

	DType            string  `json:"dtype"`                        // the weights' precision
	CheckpointDir    string  `json:"checkpoint_dir,omitempty"`     // the checkpoint loaded (bf16, -model)
	CheckpointWriteS float64 `json:"checkpoint_write_s,omitempty"` // writing the random checkpoint (0: reused)
	LoadS            float64 `json:"load_s,omitempty"`             // model.Load
	Checkpointing    bool    `json:"checkpointing"`                // activations recomputed per layer
	MemEstimateMB    float64 `json:"mem_estimate_mb"`              // estimated peak of training
	MemEstimate      memMB   `json:"mem_estimate"`
	MemAvailableMB   float64 `json:"mem_available_mb,omitempty"` // the limit it was checked against
	GoMemLimitMB     float64 `json:"go_memory_limit_mb,omitempty"`
	ScoreS           float64 `json:"score_s,omitempty"`      // median scoring pass
	TrainStepS       float64 `json:"train_step_s,omitempty"` // median training step
}

// modelJSON describes the model's shape with config.json's keys, as the harness does.
func modelJSON(c *model.Config) map[string]any {
	return map[string]any{
		"model_type": c.ModelType, "vocab_size": c.VocabSize, "hidden_size": c.HiddenSize,
		"intermediate_size": c.IntermediateSize, "num_hidden_layers": c.NumLayers,
		"num_attention_heads": c.NumHeads, "num_key_value_heads": c.NumKVHeads, "head_dim": c.HeadDim,
		"rms_norm_eps": c.RMSNormEps, "rope_theta": c.RopeTheta, "tie_word_embeddings": c.TieWordEmbeddings,
	}
}

// flops is the harness's FLOP model (loss on one position per row): useful GFLOP per scoring
// call and per training step, a multiply-add counting 2, attention counted in full (T x T).
func flops(c *model.Config, r, b, t int) map[string]float64 {
	h, in, l, v := float64(c.HiddenSize), float64(c.IntermediateSize), float64(c.NumLayers), float64(c.VocabSize)
	nq, nkv := float64(c.NumHeads*c.HeadDim), float64(c.NumKVHeads*c.HeadDim)
	rf, n := float64(r), float64(b*t)
	pLin := h*nq + 2*h*nkv + nq*h + 3*h*in
	pLoRA := rf * ((h + nq) + 2*(h+nkv) + (nq + h) + 2*(h+in) + (in + h))
	attn := 4 * float64(b) * float64(t) * float64(t) * float64(c.NumHeads*c.HeadDim) * l
	body := 2*n*l*(pLin+pLoRA) + attn
	head := 2 * float64(b) * h * v
	score := body + head
	trainF := body + head + 2*n*l*pLin + 4*n*l*pLoRA + 2*attn + head
	return map[string]float64{"score_gflop": score / 1e9, "train_gflop": trainF / 1e9}
}

// timeRuns calls fn warmup times, then steps times, timing each of the latter.
func timeRuns(warmup, steps int, fn func() error) ([]float64, error) {
	for range warmup {
		if err := fn(); err != nil {
			return nil, err
		}
	}
	ts := make([]float64, steps)
	for i := range ts {
		t0 := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		ts[i] = time.Since(t0).Seconds()
	}
	return ts, nil
}

// summarise computes the median, range and rates of timed runs; samples, tokens and gflop are
// per run.
func summarise(ts []float64, samples, tokens, gflop float64) *stats {
	s := slices.Clone(ts)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	med = max(med, 1e-9)
	return &stats{MedianS: med, MinS: s[0], MaxS: s[len(s)-1], N: len(s),
		SamplesPerS: samples / med, TokensPerS: tokens / med, AchievedGFLOPS: gflop / med}
}

// cpuName is the processor's model name from /proc/cpuinfo, else GOARCH.
func cpuName() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				if name := strings.TrimSpace(v); name != "" {
					return name
				}
			}
		}
	}
	return runtime.GOARCH
}
