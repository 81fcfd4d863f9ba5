package survey

import (
	"fmt"
	"sort"
	"strings"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/train"
)

// Read-outs of a Preset.
const (
	// ReadoutGenerate is the authors' sampled read-out: generate up to MaxNewTokens tokens at
	// Temperature and take the first digit 1-6 of the reply (RateGenerated), repeated over
	// Seeds seeds. The logit read-outs are reported beside it.
	ReadoutGenerate = "generate"
	// ReadoutLogit is the deterministic logit read-out (Rate in ModeLogit): the argmax of the
	// six digit probabilities, with their expectation beside it; one pass, no seeds.
	ReadoutLogit = "logit"
)

// Games action choice of a Preset.
const (
	// GamesArgmax picks the action whose number has the highest logit.
	GamesArgmax = "argmax"
	// GamesSample samples the action number at temperature 0.6, top-p 0.9, top-k 20, as the
	// MACHIAVELLI agent of the original work.
	GamesSample = "sample(T=0.6,top_p=0.9,top_k=20)"
)

// PaperInstrument is the file name of the authors' survey instrument, which the paper preset
// reads (examples/align -instrument PATH).
const PaperInstrument = "kvs_data_new.json"

// Preset is a complete, named choice of every setting of the survey-to-behavior protocol:
// instrument, intervention, LoRA, training, read-out and evaluation. Its JSON form (keys as
// tagged) is what examples/align -print-config prints. Start from PaperPreset (the published
// protocol of Nie et al. 2025) or DemoPreset (a budget for the embedded toy model).
type Preset struct {
	Name string `json:"preset"`
	// Instrument is "builtin" or the path of an instrument file (PaperInstrument: the
	// authors' file, whose path the caller supplies).
	Instrument string `json:"instrument"`
	// Intervention names the target values (ParseTargets syntax).
	Intervention string `json:"intervention"`
	// Variants is the number of prompt variants per description trained on (27: all).
	Variants int `json:"variants"`

	Rank    int      `json:"rank"`
	Alpha   float64  `json:"alpha"`
	Dropout float64  `json:"dropout"`
	Targets []string `json:"targets"` // the projections that get an adapter, in every layer

	LR          float64 `json:"lr"`
	WarmupRatio float64 `json:"warmup_ratio"`
	// Batch is the effective batch (MicroBatch x accumulation).
	Batch      int `json:"batch"`
	MicroBatch int `json:"micro_batch"`
	// Epochs is the most epochs; the validation loss is measured after each, training stops
	// after Patience epochs without an improvement of MinDelta, and the best epoch is kept.
	Epochs   int     `json:"epochs"`
	Patience int     `json:"patience"`
	MinDelta float64 `json:"min_delta"`
	// Schedule is the learning rate after warm-up: "constant" or "linear" (decay to 0).
	Schedule train.Schedule `json:"schedule"`
	// MaxGradNorm clips the global gradient norm (0: off).
	MaxGradNorm float64 `json:"max_grad_norm"`
	// EOS appends the end-of-sequence token after the answer digit (the loss covers it too).
	EOS bool `json:"eos"`
	// AnswerOnlyLoss: the loss is the cross-entropy of the answer tokens only (always true
	// in valora; recorded for the report).
	AnswerOnlyLoss bool `json:"answer_only_loss"`

	Readout      string  `json:"readout"` // ReadoutGenerate or ReadoutLogit
	Temperature  float64 `json:"temperature"`
	MaxNewTokens int     `json:"max_new_tokens"`
	Seeds        int     `json:"seeds"`

	GamesSampling string `json:"games_sampling"` // GamesArgmax or GamesSample
	AITACap       int    `json:"aita_cap"`       // most AITA posts per value (seeded sample)

	// Choices explains, per setting the published text leaves open, the preset's choice and
	// why.
	Choices map[string]string `json:"choices,omitempty"`
}

// PaperPreset is the published protocol (Nie et al. 2025, arXiv 2508.11414, from the
// instrument to the out-of-domain tests): the authors' instrument,
// all 27 variants, "power-minimisation", rank 128 / alpha 512 / dropout 0 on all seven
// projections, AdamW lr 1e-4 with 15% linear warm-up, effective batch 16, up to 10 epochs with
// validation each epoch, patience 2 (minimum improvement 0.01), the best epoch kept,
// answer-only loss; the sampled read-out at temperature 0.5 (8 new tokens, first digit) over 3
// seeds; AITA capped at 500 posts per value; games actions sampled as the original agent.
//
// The published text leaves three training choices open. The preset takes those of a Hugging
// Face Trainer run, which the authors' pipeline is (a public Trainer-based script of it,
// value_alignment/train_survey_sft.py in zhaoqyu/Lab-NLP, passes warmup_ratio and nothing
// else about the schedule or clipping, and appends eos_token to the response): linear decay
// after warm-up (Trainer's default lr_scheduler_type), gradient clipping at norm 1.0
// (Trainer's default max_grad_norm), and an EOS token after the digit.
func PaperPreset() Preset {
	return Preset{
		Name: "paper", Instrument: PaperInstrument, Intervention: "power-minimisation", Variants: 27,
		Rank: 128, Alpha: 512, Dropout: 0, Targets: allProjections(),
		LR: 1e-4, WarmupRatio: 0.15, Batch: 16, MicroBatch: 4, Epochs: 10, Patience: 2, MinDelta: 0.01,
		Schedule: "linear", MaxGradNorm: 1.0, EOS: true, AnswerOnlyLoss: true,
		Readout: ReadoutGenerate, Temperature: DefaultTemperature, MaxNewTokens: DefaultMaxNewTokens, Seeds: 3,
		GamesSampling: GamesSample, AITACap: 500,
		Choices: map[string]string{
			"schedule":      "linear decay to 0 after the warm-up: the default lr_scheduler_type of the Hugging Face Trainer the authors' pipeline runs on (the paper names only the 15% warm-up)",
			"max_grad_norm": "1.0: the Hugging Face Trainer's default max_grad_norm (the paper does not mention clipping)",
			"eos":           "on: a Trainer-based script of the authors' pipeline appends eos_token to the answer, so the model also learns to stop after the digit (matters for the generated read-out)",
			"micro_batch":   "4 x 4 accumulation = 16; the script uses 1 x 16; the effective batch is the same, length bucketing keeps padding low",
		},
	}
}

// DemoPreset is the paper's protocol at the budget of the embedded toy model (stories260k): the
// built-in instrument, 3 of the variants in training, rank 16 / alpha 64, lr 1e-3, 2 epochs, a
// constant rate without clipping or EOS, the logit read-out, games actions by argmax. It shows
// the pipeline, not the effect.
func DemoPreset() Preset {
	p := PaperPreset()
	p.Name, p.Instrument, p.Variants = "demo", "builtin", 3
	p.Rank, p.Alpha, p.LR, p.Epochs = 16, 64, 1e-3, 2
	p.Schedule, p.MaxGradNorm, p.EOS = "constant", 0, false
	p.Readout, p.Seeds, p.GamesSampling = ReadoutLogit, 1, GamesArgmax
	p.Choices = map[string]string{
		"readout": "logit: a toy story model rarely writes a digit, so the generated read-out would be almost all missing",
		"budget":  "rank 16, lr 1e-3, 2 epochs, 3 variants: minutes on two cores; too small to learn the intervention well",
	}
	return p
}

// Presets returns the named presets, sorted by name.
func Presets() []string {
	out := []string{"demo", "paper"}
	sort.Strings(out)
	return out
}

// PresetByName returns the preset called name ("paper" or "demo").
func PresetByName(name string) (Preset, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "paper":
		return PaperPreset(), nil
	case "demo":
		return DemoPreset(), nil
	}
	return Preset{}, fmt.Errorf("survey: unknown preset %q (want %s)", name, strings.Join(Presets(), " or "))
}

func allProjections() []string {
	var out []string
	for _, p := range lora.AllProjections() {
		out = append(out, p.String())
	}
	return out
}

// Validate checks the preset's settings.
func (p Preset) Validate() error {
	switch {
	case p.Variants <= 0:
		return fmt.Errorf("survey: preset %s: variants %d, want > 0", p.Name, p.Variants)
	case p.MicroBatch <= 0 || p.Batch <= 0 || p.Batch%p.MicroBatch != 0:
		return fmt.Errorf("survey: preset %s: batch %d is not a positive multiple of micro-batch %d", p.Name, p.Batch, p.MicroBatch)
	case p.Readout != ReadoutGenerate && p.Readout != ReadoutLogit:
		return fmt.Errorf("survey: preset %s: read-out %q, want %s or %s", p.Name, p.Readout, ReadoutGenerate, ReadoutLogit)
	case p.Seeds <= 0:
		return fmt.Errorf("survey: preset %s: seeds %d, want > 0", p.Name, p.Seeds)
	case p.Readout == ReadoutGenerate && (!(p.Temperature > 0) || p.MaxNewTokens <= 0):
		return fmt.Errorf("survey: preset %s: generated read-out needs a temperature > 0 and max new tokens > 0 (have %v, %d)", p.Name, p.Temperature, p.MaxNewTokens)
	case p.GamesSampling != GamesArgmax && p.GamesSampling != GamesSample:
		return fmt.Errorf("survey: preset %s: games sampling %q, want %q or %q", p.Name, p.GamesSampling, GamesArgmax, GamesSample)
	}
	if _, err := ParseTargets(p.Intervention); err != nil {
		return fmt.Errorf("survey: preset %s: %w", p.Name, err)
	}
	if _, err := p.LoRA(0); err != nil {
		return err
	}
	// train.New validates the rest of the training settings.
	if p.Schedule != train.ScheduleConstant && p.Schedule != train.ScheduleLinear || !(p.LR > 0) || p.Epochs <= 0 ||
		!(p.WarmupRatio >= 0 && p.WarmupRatio <= 1) || p.Patience < 0 || !(p.MinDelta >= 0) || !(p.MaxGradNorm >= 0) {
		return fmt.Errorf("survey: preset %s: schedule %q, lr %v, epochs %d, warm-up %v, patience %d, min delta %v, max grad norm %v: want constant or linear, lr > 0, epochs > 0, warm-up in [0,1], the rest >= 0",
			p.Name, p.Schedule, p.LR, p.Epochs, p.WarmupRatio, p.Patience, p.MinDelta, p.MaxGradNorm)
	}
	return nil
}

// LoRA returns the adapter configuration of the preset, seeded with seed.
func (p Preset) LoRA(seed uint64) (lora.Config, error) {
	c := lora.Config{Rank: p.Rank, Alpha: p.Alpha, Dropout: p.Dropout, Seed: seed}
	for _, name := range p.Targets {
		proj, err := model.ParseProj(name)
		if err != nil {
			return lora.Config{}, fmt.Errorf("survey: preset %s: LoRA target: %w", p.Name, err)
		}
		c.Targets = append(c.Targets, proj)
	}
	if p.Rank <= 0 || !(p.Alpha > 0) || p.Dropout < 0 || p.Dropout >= 1 || len(c.Targets) == 0 {
		return lora.Config{}, fmt.Errorf("survey: preset %s: rank %d, alpha %v, dropout %v, %d targets: want rank > 0, alpha > 0, dropout in [0,1), a target",
			p.Name, p.Rank, p.Alpha, p.Dropout, len(c.Targets))
	}
	return c, nil
}

// Train returns the trainer configuration of the preset, seeded with seed (data order and
// dropout). Dir, Progress and the like are left for the caller.
func (p Preset) Train(seed uint64) train.Config {
	c := train.DefaultConfig()
	c.LR, c.WarmupRatio, c.Schedule, c.Epochs = p.LR, p.WarmupRatio, p.Schedule, p.Epochs
	c.BatchSize = max(1, p.MicroBatch)
	c.Accum = max(1, p.Batch/max(1, p.MicroBatch))
	c.MaxGradNorm, c.Patience, c.MinImprovement = p.MaxGradNorm, p.Patience, p.MinDelta
	c.Seed = seed
	return c
}
