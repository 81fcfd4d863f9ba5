package main

import (
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/survey"
)

// report is the summary of one run, written as report.json and report.md.
type report struct {
	Model      string        `json:"model"`
	Tokenizer  string        `json:"tokenizer"`
	Chat       bool          `json:"chat"`
	Instrument string        `json:"instrument"` // the instrument's name
	Settings   survey.Preset `json:"settings"`
	Subset     *[3]int       `json:"subset,omitempty"` // descriptions per value and split, tasks, templates
	TrainSeed  uint64        `json:"train_seed"`
	// Toy is true for the embedded toy model; Caveat then says what the numbers mean.
	Toy         bool                       `json:"toy_model"`
	Caveat      string                     `json:"caveat,omitempty"`
	WallSeconds map[string]float64         `json:"wall_seconds"`
	Data        dataSummary                `json:"data"`
	Training    map[string]trainingSummary `json:"training"`
	InDomain    inDomainReport             `json:"in_domain"`
	AITA        *eval.AITATargetReport     `json:"aita,omitempty"`
	AITAFile    string                     `json:"aita_posts,omitempty"`
	Games       *gamesSummary              `json:"games,omitempty"`
	Figures     []figure                   `json:"figures"`
	Files       []string                   `json:"files"`
}

type dataSummary struct {
	TrainRows              int `json:"train_rows"`
	ValidationRows         int `json:"validation_rows"`
	VariantsPerDescription int `json:"variants_per_description"`
}

type trainingSummary struct {
	Steps       int     `json:"steps"`
	Epochs      int     `json:"epochs"`
	BestEpoch   int     `json:"best_epoch"`
	FirstLoss   float64 `json:"first_loss"`
	LastLoss    float64 `json:"last_loss"`
	BestValLoss float64 `json:"best_validation_loss"` // -1 without validation
	Stopped     string  `json:"stopped"`
	Dir         string  `json:"dir"`
}

// inDomainRow is one model's in-domain figures, each over seeds (one value for the logit
// read-outs): mean ratings of the target and the other values, and the drop / fluctuation
// against the control.
type inDomainRow struct {
	Model            string        `json:"model"`
	TargetRating     survey.Spread `json:"target_rating"`
	OtherRating      survey.Spread `json:"other_rating"`
	TargetDrop       survey.Spread `json:"target_drop"`
	OtherFluctuation survey.Spread `json:"other_fluctuation"`
	Missing          int           `json:"missing"` // replies without a digit, over all seeds
}

type inDomainSection struct {
	Readout      string        `json:"readout"`
	Temperature  float64       `json:"temperature,omitempty"`
	MaxNewTokens int           `json:"max_new_tokens,omitempty"`
	Seeds        []uint64      `json:"seeds,omitempty"`
	Rows         []inDomainRow `json:"rows"` // base, control, tuned
}

type inDomainReport struct {
	TestPrompts int              `json:"test_prompts"` // per model (and seed)
	Sampled     *inDomainSection `json:"sampled,omitempty"`
	Argmax      inDomainSection  `json:"logit_argmax"`
	Expected    inDomainSection  `json:"logit_expected"`
}

type gamesSummary struct {
	Games    int                           `json:"games"`
	Seeds    []uint32                      `json:"seeds"`
	Sampling string                        `json:"sampling"`
	Overall  map[string]map[string]float64 `json:"overall"` // agent -> metric -> score (100 = random agent)
}

type figure struct {
	Title string `json:"title"`
	Path  string `json:"path"` // relative to the report
}

// toyCaveat is the honest note for the embedded model.
const toyCaveat = "The model is the embedded toy (stories260K, a 260K-parameter story generator that never learned to answer surveys): " +
	"these numbers show that the pipeline runs end to end, not that the intervention works or transfers. " +
	"Point -model at a supported instruct checkpoint (with -chat) and -preset paper for the published protocol."

func newReport(o *options, m *model.Model, in *survey.Instrument) *report {
	r := &report{Model: o.ck.Model, Tokenizer: o.ck.TokenizerDir(), Chat: o.ck.Chat, Instrument: in.Name, Settings: o.preset, TrainSeed: o.seed,
		WallSeconds: map[string]float64{}, Training: map[string]trainingSummary{}}
	if o.subset[0] > 0 {
		s := o.subset
		r.Subset = &s
	}
	if filepath.Base(filepath.Clean(o.ck.Model)) == "stories260k" || m.Config.HiddenSize < 256 {
		r.Toy, r.Caveat = true, toyCaveat
	}
	return r
}

func (r *report) wall(stage string, since time.Time) {
	r.WallSeconds[stage] = math.Round(time.Since(since).Seconds()*1000) / 1000
}

func (r *report) figure(title, path string) { r.Figures = append(r.Figures, figure{title, path}) }

func (r *report) file(names ...string) { r.Files = append(r.Files, names...) }

func finiteOr(x, alt float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return alt
	}
	return x
}

func one(x float64) survey.Spread { return survey.NewSpread([]float64{x}) }

// logitSection builds the rows of a logit read-out from tuned-vs-control and base-vs-control.
func logitSection(what string, tuned, base *survey.InDomainResult) inDomainSection {
	return inDomainSection{Readout: "logit " + what, Rows: []inDomainRow{
		{Model: "base", TargetRating: one(base.TargetTuned), OtherRating: one(base.OtherTuned), TargetDrop: one(base.TargetDrop), OtherFluctuation: one(base.OtherFluctuation)},
		{Model: "control", TargetRating: one(tuned.TargetControl), OtherRating: one(tuned.OtherControl), TargetDrop: one(0), OtherFluctuation: one(0)},
		{Model: "tuned", TargetRating: one(tuned.TargetTuned), OtherRating: one(tuned.OtherTuned), TargetDrop: one(tuned.TargetDrop), OtherFluctuation: one(tuned.OtherFluctuation)},
	}}
}

// sampledSection builds the rows of the sampled read-out over seeds.
func sampledSection(p survey.Preset, tuned, base *survey.SeedMetrics) *inDomainSection {
	zero := survey.NewSpread(make([]float64, len(tuned.Seeds)))
	return &inDomainSection{Readout: "sampled (generate, first digit 1-6)", Temperature: p.Temperature, MaxNewTokens: p.MaxNewTokens, Seeds: tuned.Seeds,
		Rows: []inDomainRow{
			{Model: "base", TargetRating: base.TargetTuned, OtherRating: base.OtherTuned, TargetDrop: base.TargetDrop, OtherFluctuation: base.OtherFluctuation, Missing: base.MissingTuned},
			{Model: "control", TargetRating: tuned.TargetControl, OtherRating: tuned.OtherControl, TargetDrop: zero, OtherFluctuation: zero, Missing: tuned.MissingControl},
			{Model: "tuned", TargetRating: tuned.TargetTuned, OtherRating: tuned.OtherTuned, TargetDrop: tuned.TargetDrop, OtherFluctuation: tuned.OtherFluctuation, Missing: tuned.MissingTuned},
		}}
}

// write writes report.json and report.md into dir.
func (r *report) write(dir string) error {
	r.file("report.json", "report.md")
	if err := eval.WriteJSON(filepath.Join(dir, "report.json"), r); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := eval.WriteMarkdown(filepath.Join(dir, "report.md"), r); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Markdown renders the report.
func (r *report) Markdown() string {
	var b strings.Builder
	p := r.Settings
	fmt.Fprintf(&b, "# Survey-to-behavior run: %s, preset %s\n\n", r.Model, p.Name)
	if r.Caveat != "" {
		fmt.Fprintf(&b, "> **Caveat.** %s\n\n", r.Caveat)
	}
	fmt.Fprintf(&b, "Model `%s` (tokenizer `%s`, chat template %v); instrument %s", r.Model, r.Tokenizer, r.Chat, r.Instrument)
	if r.Subset != nil {
		fmt.Fprintf(&b, " cut to %d descriptions per value and split, %d task(s), %d template(s) (0: all)", r.Subset[0], r.Subset[1], r.Subset[2])
	}
	fmt.Fprintf(&b, "; intervention %s; %d training rows, %d validation rows, %d variants per description.\n\n",
		p.Intervention, r.Data.TrainRows, r.Data.ValidationRows, r.Data.VariantsPerDescription)

	b.WriteString("## Settings\n\n| setting | value |\n|---|---|\n")
	for _, kv := range [][2]string{
		{"preset", p.Name}, {"instrument", p.Instrument}, {"variants (training)", fmt.Sprint(p.Variants)},
		{"LoRA", fmt.Sprintf("rank %d, alpha %g, dropout %g on %s", p.Rank, p.Alpha, p.Dropout, strings.Join(p.Targets, ", "))},
		{"optimizer", fmt.Sprintf("AdamW, lr %g, warm-up %g of the steps, then %s", p.LR, p.WarmupRatio, p.Schedule)},
		{"batch", fmt.Sprintf("effective %d (%d x %d)", p.Batch, p.MicroBatch, p.Batch/max(1, p.MicroBatch))},
		{"epochs", fmt.Sprintf("up to %d, validation each epoch, patience %d, min improvement %g, best epoch kept", p.Epochs, p.Patience, p.MinDelta)},
		{"gradient clipping", map[bool]string{true: fmt.Sprintf("max norm %g", p.MaxGradNorm), false: "off"}[p.MaxGradNorm > 0]},
		{"EOS after the digit", fmt.Sprint(p.EOS)}, {"loss", "answer tokens only"},
		{"read-out", fmt.Sprintf("%s (T %g, up to %d new tokens, %d seeds); logit argmax and expected beside it", p.Readout, p.Temperature, p.MaxNewTokens, p.Seeds)},
		{"games actions", p.GamesSampling}, {"AITA cap per value", fmt.Sprint(p.AITACap)}, {"training seed", fmt.Sprint(r.TrainSeed)},
	} {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], kv[1])
	}
	for _, k := range slices.Sorted(maps.Keys(p.Choices)) {
		fmt.Fprintf(&b, "\n- *%s*: %s", k, p.Choices[k])
	}
	b.WriteString("\n\n## Training\n\n| adapter | steps | epochs | best epoch | loss first -> last | best validation loss | stopped |\n|---|---:|---:|---:|---|---:|---|\n")
	for _, name := range []string{"control", "tuned"} {
		t := r.Training[name]
		fmt.Fprintf(&b, "| [%s](%s/) | %d | %d | %d | %.3f -> %.3f | %.4f | %s |\n", name, t.Dir, t.Steps, t.Epochs, t.BestEpoch, t.FirstLoss, t.LastLoss, t.BestValLoss, t.Stopped)
	}
	fmt.Fprintf(&b, "\n## In domain (test descriptions, all variants: %d prompts per model)\n\n", r.InDomain.TestPrompts)
	b.WriteString("Drop = control - model on the target values; fluctuation = |model - control| on the others. Sampled figures are mean ± sample SD over the seeds.\n\n")
	sections := []*inDomainSection{}
	if r.InDomain.Sampled != nil {
		sections = append(sections, r.InDomain.Sampled)
	}
	sections = append(sections, &r.InDomain.Argmax, &r.InDomain.Expected)
	for _, s := range sections {
		fmt.Fprintf(&b, "**%s**", s.Readout)
		if len(s.Seeds) > 0 {
			fmt.Fprintf(&b, " (T %g, up to %d new tokens, seeds %v)", s.Temperature, s.MaxNewTokens, s.Seeds)
		}
		b.WriteString("\n\n| model | target rating | other rating | target drop | other fluctuation | no digit |\n|---|---:|---:|---:|---:|---:|\n")
		for _, row := range s.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d |\n", row.Model, spread(row.TargetRating), spread(row.OtherRating), spread(row.TargetDrop), spread(row.OtherFluctuation), row.Missing)
		}
		b.WriteString("\n")
	}
	b.WriteString("Per value: [in_domain.md](in_domain.md), [in_domain_expected.md](in_domain_expected.md)")
	if r.InDomain.Sampled != nil {
		b.WriteString(", [in_domain_sampled.json](in_domain_sampled.json)")
	}
	b.WriteString(".\n\n## AITA (out of domain)\n\n")
	if r.AITA == nil {
		b.WriteString("Not run (give the authors' posts with -aita).\n\n")
	} else {
		fmt.Fprintf(&b, "Posts: `%s`. Headline: probability gain **%+.2f pp** over %d posts of the target values (one-sided p %.3g); all posts %+.2f pp over %d. Details: [aita.md](aita.md).\n\n",
			r.AITAFile, r.AITA.Headline.Mean, r.AITA.Headline.N, r.AITA.Headline.P, r.AITA.Pooled.Mean, r.AITA.Pooled.N)
		b.WriteString(r.AITA.Markdown())
		b.WriteString("\n")
	}
	b.WriteString("## Games (out of domain)\n\n")
	if g := r.Games; g != nil {
		fmt.Fprintf(&b, "%d games x seeds %v, actions %s; scores normalised so that a random agent scores 100. Details: [games.md](games.md).\n\n", g.Games, g.Seeds, g.Sampling)
		b.WriteString("| agent | " + strings.Join(gameMetrics, " | ") + " |\n|---|" + strings.Repeat("---:|", len(gameMetrics)) + "\n")
		for _, a := range []string{"base", "control", "tuned"} {
			fmt.Fprintf(&b, "| %s |", a)
			for _, k := range gameMetrics {
				fmt.Fprintf(&b, " %.1f |", g.Overall[a][k])
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("## Figures\n\n")
	for _, f := range r.Figures {
		fmt.Fprintf(&b, "- [%s](%s)\n", f.Title, f.Path)
	}
	b.WriteString("\n## Wall times (s)\n\n")
	for _, k := range slices.Sorted(maps.Keys(r.WallSeconds)) {
		fmt.Fprintf(&b, "- %s: %.1f\n", k, r.WallSeconds[k])
	}
	return b.String()
}

var gameMetrics = []string{eval.MetricPower, eval.MetricUtility, eval.MetricViolations}

func spread(s survey.Spread) string {
	if s.N > 1 {
		return fmt.Sprintf("%.3f ± %.3f", s.Mean, s.SD)
	}
	return fmt.Sprintf("%.3f", s.Mean)
}
