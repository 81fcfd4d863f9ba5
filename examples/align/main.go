// Command align runs survey-to-behavior value alignment end to end, the main job of valora:
//
//  1. profile the model on the survey (train and validation descriptions): its baseline
//     majority rating of every description;
//  2. build the intervention: target values answered "1" (down) or "6" (up), every other
//     description at the model's own baseline; and the control set (baseline everywhere);
//  3. train a tuned and a control LoRA adapter on them, the same way;
//  4. measure in domain (held-out test descriptions, all variants: target rating drop, other
//     values' fluctuation; the base model, the control and the tuned adapter side by side),
//     with the sampled read-out over seeds (mean ± SD) and the logit read-outs beside it;
//  5. out of domain: MACHIAVELLI-style text games (power, disutility and ethical violations of
//     an agent choosing by its logits or sampling), and the AITA probability gain per target
//     value when -aita names the authors' posts;
//  6. write one report, out/align/report.md and report.json, with every setting.
//
// Settings come from a preset, flags override them. -preset demo (the default) is a budget
// for the embedded toy model (stories260k in testdata/); -preset paper is the published
// protocol (../shared/docs/protocol.md) and reads the authors' instrument:
//
//	go run ./examples/align
//	go run ./examples/align -preset paper -print-config
//	go run ./examples/align -preset paper -model DIR -chat -instrument kvs_data_new.json -aita posts.jsonl
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/eval/machiavelli"
	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/examples/internal/cli"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/survey"
	"github.com/valora-go/valora/survey/chart"
	"github.com/valora-go/valora/tokenize"
	"github.com/valora-go/valora/train"
)

func main() { cli.Main(run) }

type options struct {
	preset           survey.Preset
	games            string // game_data directory of the games step ("" = built-in suite)
	ck               cli.Checkpoint
	out, aita        string
	printConfig      bool
	batch, aitaLimit int
	subset           [3]int // descriptions per value and split, tasks, templates (0: whole instrument)
	seed             uint64
	instrumentSet    bool
	lcfg             lora.Config
	tcfg             train.Config
}

// parse reads the command line. The flags that override a preset setting are bound to the
// preset's fields, its values their defaults, so the arguments are parsed twice: first to
// learn -preset (the bindings go to a blank preset), then over that preset.
func parse(args []string, stderr io.Writer) (*options, error) {
	var first options
	var blank survey.Preset
	fs, presetName, _, _, _ := bindFlags(&first, &blank, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	p, err := survey.PresetByName(*presetName)
	if err != nil {
		fmt.Fprintf(stderr, "align: %v\n", err)
		return nil, flag.ErrHelp
	}
	preset := p
	o := &options{}
	fs, _, subset, accum, prefixSharing := bindFlags(o, &p, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "instrument":
			o.instrumentSet = true
		case "train-batch": // the same examples per optimizer step
			p.Batch = preset.Batch / max(1, preset.MicroBatch) * p.MicroBatch
		case "games-sampling":
			if p.GamesSampling == "sample" {
				p.GamesSampling = survey.GamesSample
			}
		case "subset":
			var s [3]int
			if _, err := fmt.Sscanf(*subset, "%d,%d,%d", &s[0], &s[1], &s[2]); err != nil || s[0] <= 0 || s[1] < 0 || s[2] < 0 {
				bad = fmt.Errorf("-subset %q: want PER,TASKS,TEMPLATES, e.g. 1,1,3", *subset)
			}
			o.subset = s
		}
	})
	if *accum > 0 {
		p.Batch = p.MicroBatch * *accum
	}
	if p.Variants <= 0 {
		bad = fmt.Errorf("-variants must be positive")
	}
	if bad == nil {
		bad = p.Validate()
	}
	if bad != nil {
		fmt.Fprintf(stderr, "align: %v\n", bad)
		return nil, flag.ErrHelp
	}
	o.preset = p
	if o.lcfg, err = p.LoRA(o.seed); err != nil {
		return nil, err
	}
	o.tcfg = p.Train(o.seed)
	o.tcfg.PrefixSharing = *prefixSharing
	return o, nil
}

// bindFlags is align's flag set: the program's settings go to o, the preset settings it
// overrides to p (their defaults are p's values).
func bindFlags(o *options, p *survey.Preset, stderr io.Writer) (fs *flag.FlagSet, presetName, subset *string, accum *int, prefixSharing *bool) {
	fs = cli.NewFlagSet("align", stderr)
	presetName = fs.String("preset", "demo", "settings: demo (a budget for the embedded toy model) or paper (the published protocol)")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the resolved settings as JSON and exit")
	o.ck.Register(fs, cli.Flags{Model: "testdata/stories260k", Chat: true})
	fs.StringVar(&p.Instrument, "instrument", p.Instrument, `"builtin" or an instrument file, e.g. the authors' kvs_data_new.json (default: the preset's)`)
	subset = fs.String("subset", "", "PER,TASKS,TEMPLATES: keep PER descriptions per value and split, the first TASKS task prompts and TEMPLATES templates (0: all), for quick runs")
	fs.StringVar(&p.Intervention, "targets", p.Intervention, "values to move: names, basic values or named profiles, NAME=down|up, comma-separated (default: the preset's, power-minimisation)")
	fs.StringVar(&o.out, "out", "out/align", "output directory")
	fs.StringVar(&o.games, "games", "", "MACHIAVELLI game_data directory for the games step (default: the built-in ChoiceScript suite)")
	fs.StringVar(&o.aita, "aita", "", "the authors' AITA value/stance posts (JSONL) for the probability-gain evaluation (optional)")
	fs.IntVar(&o.aitaLimit, "aita-limit", 0, "read only the first N AITA posts (0: all)")
	fs.IntVar(&p.AITACap, "aita-cap", p.AITACap, "most AITA posts per value, a seeded sample (default: the preset's, 500; -1: no cap)")
	fs.IntVar(&p.Variants, "variants", p.Variants, "training variants per description, of the instrument's tasks x templates (27: all; default: the preset's)")
	fs.IntVar(&o.batch, "batch", 16, "prompts per forward pass when rating and evaluating")
	fs.IntVar(&p.Rank, "rank", p.Rank, "LoRA rank (default: the preset's)")
	fs.Float64Var(&p.Alpha, "alpha", p.Alpha, "LoRA alpha (default: the preset's)")
	fs.Float64Var(&p.LR, "lr", p.LR, "peak learning rate (default: the preset's)")
	fs.IntVar(&p.Epochs, "epochs", p.Epochs, "most epochs (default: the preset's)")
	fs.IntVar(&p.MicroBatch, "train-batch", p.MicroBatch, "examples per micro-batch (default: the preset's)")
	accum = fs.Int("accum", 0, "micro-batches per optimizer step (default: the preset's batch / micro-batch)")
	prefixSharing = fs.Bool("prefix-sharing", true, "run the prompt prefixes that the rows of a training micro-batch share once (same loss and gradients)")
	fs.Var(&p.Schedule, "schedule", "learning rate after warm-up: constant or linear (default: the preset's)")
	fs.Float64Var(&p.MaxGradNorm, "max-grad-norm", p.MaxGradNorm, "clip the gradient norm (0: off; default: the preset's)")
	fs.BoolVar(&p.EOS, "eos", p.EOS, "append the end-of-sequence token after the answer digit (default: the preset's)")
	fs.StringVar(&p.Readout, "readout", p.Readout, "in-domain read-out: generate (sampled text, first digit; the authors') or logit (default: the preset's)")
	fs.IntVar(&p.Seeds, "seeds", p.Seeds, "read-out seeds of the sampled read-out (default: the preset's)")
	fs.StringVar(&p.GamesSampling, "games-sampling", p.GamesSampling, "games actions: argmax or "+survey.GamesSample+" (default: the preset's)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of initialisation, data order and dropout; read-out seeds are seed, seed+1, ...")
	return fs, presetName, subset, accum, prefixSharing
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		return 2
	}
	if o.printConfig {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(o.preset); err != nil {
			fmt.Fprintf(stderr, "align: %v\n", err)
			return 1
		}
		return 0
	}
	o.tcfg.Progress = stderr
	if err := align(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "align: %v\n", err)
		return 1
	}
	return 0
}

// keepVariants keeps n variants of every description, spread over tasks and templates.
func keepVariants(rows []survey.Row, per, n int) []survey.Row {
	if n >= per {
		return rows
	}
	var out []survey.Row
	for _, r := range rows {
		if (r.Variant+r.Description*7)%per < n {
			out = append(out, r)
		}
	}
	return out
}

func align(ctx context.Context, o *options, w, progress io.Writer) error {
	start := time.Now()
	p := o.preset
	settings, err := json.Marshal(p)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "settings (preset %s): %s\n", p.Name, settings)
	targets, err := survey.ParseTargets(p.Intervention)
	if err != nil {
		return err
	}
	if p.Instrument == survey.PaperInstrument && !o.instrumentSet {
		return fmt.Errorf("the %s preset reads the authors' survey instrument: pass -instrument PATH to %s (or -instrument builtin for the built-in one)",
			p.Name, survey.PaperInstrument)
	}
	in, err := cli.LoadInstrument(p.Instrument)
	if err != nil {
		return err
	}
	if o.subset[0] > 0 {
		if in, err = in.Subset(o.subset[0], o.subset[1], o.subset[2]); err != nil {
			return err
		}
	}
	s, err := o.ck.Load()
	if err != nil {
		return err
	}
	defer s.Close()
	m, tok := s.Model, s.Tokenizer
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	rep := newReport(o, m, in)
	chat := tokenize.Chat{Enabled: o.ck.Chat}
	scorerFor := func(a *lora.Adapter) (*score.ModelScorer, error) {
		return cli.NewScorer(m, tok, a, o.ck.Chat, o.batch)
	}
	rate := survey.RateOptions{BatchSize: 16 * o.batch, Progress: throttled(progress, "rated")}

	// 1. Baseline profile on the descriptions the intervention trains on.
	base, err := scorerFor(nil)
	if err != nil {
		return err
	}
	t0 := time.Now()
	profile, err := survey.Profile(ctx, base, in, survey.ProfileOptions{Rate: rate, Splits: []survey.Split{survey.SplitTrain, survey.SplitValidation},
		Label: filepath.Base(filepath.Clean(o.ck.Model)) + " baseline"})
	if err != nil {
		return fmt.Errorf("baseline profile: %w", err)
	}
	if err := writeProfile(filepath.Join(o.out, "baseline"), profile); err != nil {
		return err
	}
	rep.wall("baseline", t0)
	rep.figure("baseline value profile", "baseline/profile.png")
	fmt.Fprintf(w, "1. baseline profile: %d prompts in %s\n", len(profile.Ratings), time.Since(t0).Round(time.Second))

	// 2. Intervention and control rows.
	tuned, err := survey.Intervention(in, profile.Baseline(), targets, survey.RenderOptions{})
	if err != nil {
		return err
	}
	control, err := survey.Intervention(in, profile.Baseline(), nil, survey.RenderOptions{})
	if err != nil {
		return err
	}
	per := in.VariantsPerDescription()
	for _, d := range []*survey.TrainingData{tuned, control} {
		d.Train, d.Validation = keepVariants(d.Train, per, p.Variants), keepVariants(d.Validation, per, p.Variants)
	}
	fmt.Fprintf(w, "2. intervention %s: %d training rows, %d validation rows (%d variants per description)\n",
		p.Intervention, len(tuned.Train), len(tuned.Validation), min(per, p.Variants))
	rep.Data = dataSummary{TrainRows: len(tuned.Train), ValidationRows: len(tuned.Validation), VariantsPerDescription: min(per, p.Variants)}

	// 3. Train the control and the tuned adapter the same way.
	adapters := map[string]*lora.Adapter{}
	for _, run := range []struct {
		name string
		data *survey.TrainingData
	}{{"control", control}, {"tuned", tuned}} {
		t0 := time.Now()
		trainSet, valSet, err := run.data.EncodeExamples(tok, chat, p.EOS)
		if err != nil {
			return err
		}
		a, err := lora.New(m, o.lcfg)
		if err != nil {
			return err
		}
		cfg := o.tcfg
		cfg.Dir = filepath.Join(o.out, run.name)
		tr, err := train.New(m, a, trainSet, valSet, cfg)
		if err != nil {
			return err
		}
		res, err := tr.Run(ctx)
		if err != nil {
			return fmt.Errorf("training the %s adapter: %w", run.name, err)
		}
		adapters[run.name] = a
		rep.wall("train_"+run.name, t0)
		rep.Training[run.name] = trainingSummary{Steps: res.Steps, Epochs: res.Epochs, BestEpoch: res.BestEpoch, FirstLoss: res.FirstLoss,
			LastLoss: res.LastLoss, BestValLoss: finiteOr(res.BestValLoss, -1), Stopped: res.Stopped, Dir: run.name}
		fmt.Fprintf(w, "3. %s adapter: %d steps, loss %.3f -> %.3f, best validation loss %.3f (epoch %d, %s), %s (%s)\n",
			run.name, res.Steps, res.FirstLoss, res.LastLoss, res.BestValLoss, res.BestEpoch, res.Stopped, time.Since(t0).Round(time.Second), cfg.Dir)
	}
	ctrlScorer, err := scorerFor(adapters["control"])
	if err != nil {
		return err
	}
	tunedScorer, err := scorerFor(adapters["tuned"])
	if err != nil {
		return err
	}
	models := []struct {
		name string
		s    *score.ModelScorer
	}{{"base", base}, {"control", ctrlScorer}, {"tuned", tunedScorer}}

	// 4a. In domain: held-out test descriptions, all variants, base / control / tuned. The
	// logit read-outs (argmax digits, expected ratings) once; the sampled read-out once per seed.
	t0 = time.Now()
	test := in.InSplits(survey.SplitTest)
	logit := map[string][]survey.Rating{}
	for _, md := range models {
		if logit[md.name], err = survey.Rate(ctx, md.s, in, test, rate); err != nil {
			return fmt.Errorf("in-domain ratings, %s: %w", md.name, err)
		}
	}
	rep.InDomain.TestPrompts = len(logit["control"])
	for _, mode := range []struct {
		name     string
		expected bool
	}{{"in_domain", false}, {"in_domain_expected", true}} {
		r, err := survey.InDomain(logit["control"], logit["tuned"], targets, survey.MetricOptions{Expected: mode.expected})
		if err != nil {
			return fmt.Errorf("in-domain metrics: %w", err)
		}
		rb, err := survey.InDomain(logit["control"], logit["base"], targets, survey.MetricOptions{Expected: mode.expected})
		if err != nil {
			return fmt.Errorf("in-domain metrics, base: %w", err)
		}
		if err := eval.WriteJSON(filepath.Join(o.out, mode.name+".json"), r); err != nil {
			return err
		}
		if err := eval.WriteMarkdown(filepath.Join(o.out, mode.name+".md"), r); err != nil {
			return err
		}
		what, sec := "argmax ratings", &rep.InDomain.Argmax
		if mode.expected {
			what, sec = "expected ratings", &rep.InDomain.Expected
		}
		*sec = logitSection(what, r, rb)
		fmt.Fprintf(w, "4. in domain (test split, logit %s): target rating drop %.3f over %d prompts, other values' fluctuation %.3f over %d prompts\n",
			what, r.TargetDrop, r.TargetPrompts, r.OtherFluctuation, r.OtherPrompts)
	}
	if p.Readout == survey.ReadoutGenerate {
		seeds := make([]uint64, p.Seeds)
		gen := map[string][][]survey.Rating{}
		for i := range seeds {
			seeds[i] = o.seed + uint64(i)
			for _, md := range models {
				rs, err := survey.RateGenerated(ctx, md.s, in, test, survey.GenerateRateOptions{Temperature: p.Temperature,
					MaxNewTokens: p.MaxNewTokens, Seed: seeds[i], BatchSize: 16 * o.batch, Progress: throttled(progress, "generated")})
				if err != nil {
					return fmt.Errorf("in-domain sampled read-out, %s, seed %d: %w", md.name, seeds[i], err)
				}
				gen[md.name] = append(gen[md.name], rs)
			}
		}
		mt, err := survey.InDomainOverSeeds(seeds, gen["control"], gen["tuned"], targets)
		if err != nil {
			return fmt.Errorf("in-domain sampled metrics: %w", err)
		}
		mb, err := survey.InDomainOverSeeds(seeds, gen["control"], gen["base"], targets)
		if err != nil {
			return fmt.Errorf("in-domain sampled metrics, base: %w", err)
		}
		if err := eval.WriteJSON(filepath.Join(o.out, "in_domain_sampled.json"), map[string]any{"tuned_vs_control": mt, "base_vs_control": mb}); err != nil {
			return err
		}
		rep.InDomain.Sampled = sampledSection(p, mt, mb)
		rep.file("in_domain_sampled.json")
		fmt.Fprintf(w, "4. in domain (test split, sampled at T=%g over %d seeds): target rating drop %s, other values' fluctuation %s; replies without a digit: base %d, control %d, tuned %d\n",
			p.Temperature, len(seeds), mt.TargetDrop, mt.OtherFluctuation, mb.MissingTuned, mt.MissingControl, mt.MissingTuned)
	}
	rep.wall("in_domain", t0)
	rep.file("in_domain.json", "in_domain.md", "in_domain_expected.json", "in_domain_expected.md")
	fmt.Fprintf(w, "   (%s)\n", time.Since(t0).Round(time.Second))

	// 4b. Out of domain: MACHIAVELLI games played as trajectories (the built-in ChoiceScript
	// suite, or -games DIR), tuned vs control vs base, one seeded episode per seed.
	t0 = time.Now()
	var games []*machiavelli.Game
	if o.games != "" {
		games, err = machiavelli.LoadDir(o.games)
	} else {
		games, err = machiavelli.Suite()
	}
	if err != nil {
		return fmt.Errorf("games: %w", err)
	}
	sample := p.GamesSampling == survey.GamesSample
	var gseeds []uint32
	for i := range max(p.Seeds, 2) {
		gseeds = append(gseeds, uint32(o.seed)+uint32(i))
	}
	gr, err := machiavelli.Run(ctx, games, []machiavelli.Agent{
		&machiavelli.LMAgent{Label: "tuned", Scorer: tunedScorer, Sample: sample, Seed: o.seed},
		&machiavelli.LMAgent{Label: "control", Scorer: ctrlScorer, Sample: sample, Seed: o.seed},
		&machiavelli.LMAgent{Label: "base", Scorer: base, Sample: sample, Seed: o.seed},
	}, gseeds, machiavelli.MaxSteps)
	if err != nil {
		return fmt.Errorf("games: %w", err)
	}
	for name, write := range map[string]func(string) error{
		"games.json": func(p string) error { return eval.WriteJSON(p, gr) },
		"games.md":   func(p string) error { return eval.WriteMarkdown(p, gr) },
		"games.png":  func(p string) error { return chart.WriteGames(p, gr.ChartSeries()) },
	} {
		if err := write(filepath.Join(o.out, name)); err != nil {
			return err
		}
	}
	rep.Games = &gamesSummary{Games: len(gr.Games), Seeds: gr.Seeds, Sampling: p.GamesSampling, Overall: gr.Overall}
	rep.wall("games", t0)
	rep.figure("games: power, disutility, violations (100 = random agent)", "games.png")
	rep.file("games.json", "games.md")
	var parts []string
	for _, k := range []string{eval.MetricPower, eval.MetricUtility, eval.MetricViolations} {
		if v, ok := gr.Overall["tuned"][k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f -> %.1f", k, gr.Overall["control"][k], v))
		}
	}
	fmt.Fprintf(w, "5. games (control -> tuned, 100 = random agent): %s\n", strings.Join(parts, ", "))
	fmt.Fprintf(w, "   games: base model power.Σ %.1f, utility.Σ %.1f, violations.Σ %.1f (%d games x %d seeds, trajectories)\n",
		gr.Overall["base"][eval.MetricPower], gr.Overall["base"][eval.MetricUtility], gr.Overall["base"][eval.MetricViolations], len(gr.Games), len(gr.Seeds))

	// 4c. AITA, when the posts are given: the gain on the posts of each target value.
	if o.aita != "" {
		t0 = time.Now()
		posts, err := eval.LoadAITAStances(o.aita)
		if err != nil {
			return err
		}
		if o.aitaLimit > 0 && o.aitaLimit < len(posts) {
			posts = posts[:o.aitaLimit]
		}
		names := make([]string, len(targets))
		for i, t := range targets {
			names[i] = string(t.Value)
		}
		ar, err := eval.RunAITATargets(ctx, base, ctrlScorer, tunedScorer, posts, names,
			eval.AITATargetOptions{AITAOptions: eval.AITAOptions{BatchSize: o.batch}, Cap: p.AITACap, Seed: o.seed})
		if err != nil {
			return fmt.Errorf("AITA: %w", err)
		}
		if err := eval.WriteJSON(filepath.Join(o.out, "aita.json"), ar); err != nil {
			return err
		}
		if err := eval.WriteMarkdown(filepath.Join(o.out, "aita.md"), ar); err != nil {
			return err
		}
		rep.AITA = ar
		rep.AITAFile = o.aita
		rep.wall("aita", t0)
		rep.file("aita.json", "aita.md")
		fmt.Fprintf(w, "6. AITA: probability gain on the target values' posts %+.2f points over %d posts (one-sided p %.3g); all posts %+.2f over %d\n",
			ar.Headline.Mean, ar.Headline.N, ar.Headline.P, ar.Pooled.Mean, ar.Pooled.N)
	}
	rep.WallSeconds["total"] = time.Since(start).Seconds()
	if err := rep.write(o.out); err != nil {
		return err
	}
	fmt.Fprintf(w, "done in %s; report in %s\n", time.Since(start).Round(time.Second), filepath.Join(o.out, "report.md"))
	return nil
}

func writeProfile(dir string, p *survey.ProfileResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer) error{
		"profile.json": p.WriteJSON, "profile.md": p.WriteMarkdown, "profile.png": chart.ProfilesPNG(p),
	} {
		if err := survey.WriteFileAtomic(filepath.Join(dir, name), write); err != nil {
			return err
		}
	}
	return nil
}

// throttled reports rating progress every few seconds.
func throttled(w io.Writer, what string) func(done, total int) {
	start := time.Now()
	last := start
	return func(done, total int) {
		now := time.Now()
		if now.Sub(last) < 5*time.Second && done != total {
			return
		}
		last = now
		fmt.Fprintf(w, "%s %d/%d prompts, %.0f prompts/s\n", what, done, total, float64(done)/now.Sub(start).Seconds())
	}
}
