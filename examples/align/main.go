// Command align runs survey-to-behavior value alignment end to end, the main job of valora:
//
//  1. profile the model on the survey (train and validation descriptions): its baseline
//     majority rating of every description;
//  2. build the intervention: target values answered "1" (down) or "6" (up), every other
//     description at the model's own baseline; and the control set (baseline everywhere);
//  3. train a tuned and a control LoRA adapter on them, the same way;
//  4. measure in domain (held-out test descriptions, all variants: target rating drop, other
//     values' fluctuation) and out of domain (MACHIAVELLI-style text games: power,
//     disutility and ethical violations of an agent choosing by its logits; AITA probability
//     gain when -aita names the authors' posts).
//
// With no flags it runs on the embedded defaults: the tiny stories260k model in testdata/,
// the built-in survey instrument and game suite, target "power-minimisation", and a demo
// training budget sized for that toy model (see the flags; the protocol's settings are
// -rank 128 -alpha 512 -lr 1e-4 -epochs 10 -variants 27).
//
//	go run ./examples/align
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/eval/machiavelli"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/survey"
	"github.com/valora-go/valora/tokenize"
	"github.com/valora-go/valora/train"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	games                                            string // game_data directory of the games step ("" = built-in suite)
	model, tokenizer, instrument, targets, out, aita string
	chat                                             bool
	variants, batch, aitaLimit                       int
	lcfg                                             lora.Config
	tcfg                                             train.Config
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("align", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{lcfg: lora.DefaultConfig(), tcfg: train.DefaultConfig()}
	fs.StringVar(&o.model, "model", "testdata/stories260k", "checkpoint directory")
	fs.StringVar(&o.tokenizer, "tokenizer", "", "tokenizer directory (default: the model directory)")
	fs.StringVar(&o.instrument, "instrument", "builtin", `"builtin" or an instrument file`)
	fs.StringVar(&o.targets, "targets", "power-minimisation", "values to move: names, basic values or named profiles, NAME=down|up, comma-separated")
	fs.StringVar(&o.out, "out", "out/align", "output directory")
	fs.StringVar(&o.games, "games", "", "MACHIAVELLI game_data directory for the games step (default: the built-in ChoiceScript suite)")
	fs.StringVar(&o.aita, "aita", "", "the authors' AITA value/stance posts (JSONL) for the probability-gain evaluation (optional)")
	fs.IntVar(&o.aitaLimit, "aita-limit", 0, "evaluate only the first N AITA posts (0: all)")
	fs.BoolVar(&o.chat, "chat", false, "wrap prompts in the model's chat template (instruct models)")
	fs.IntVar(&o.variants, "variants", 3, "training variants per description, of the instrument's tasks x templates (27: all)")
	fs.IntVar(&o.batch, "batch", 16, "prompts per forward pass when rating and evaluating")
	fs.IntVar(&o.lcfg.Rank, "rank", 16, "LoRA rank")
	fs.Float64Var(&o.lcfg.Alpha, "alpha", 64, "LoRA alpha")
	fs.Float64Var(&o.tcfg.LR, "lr", 1e-3, "peak learning rate")
	fs.IntVar(&o.tcfg.Epochs, "epochs", 2, "epochs")
	fs.IntVar(&o.tcfg.BatchSize, "train-batch", o.tcfg.BatchSize, "examples per micro-batch")
	fs.IntVar(&o.tcfg.Accum, "accum", o.tcfg.Accum, "micro-batches per optimizer step")
	fs.Uint64Var(&o.tcfg.Seed, "seed", 0, "seed of initialisation, data order and dropout")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.variants <= 0 {
		fmt.Fprintln(stderr, "align: -variants must be positive")
		return nil, flag.ErrHelp
	}
	if o.tokenizer == "" {
		o.tokenizer = o.model
	}
	o.lcfg.Seed = o.tcfg.Seed
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		return 2
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
	targets, err := survey.ParseTargets(o.targets)
	if err != nil {
		return err
	}
	in, err := loadInstrument(o.instrument)
	if err != nil {
		return err
	}
	tok, err := tokenize.Load(o.tokenizer)
	if err != nil {
		return err
	}
	m, err := model.Load(o.model)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	chat := tokenize.Chat{Enabled: o.chat, Vars: map[string]any{"enable_thinking": false}}
	scorerFor := func(a *lora.Adapter) (*eval.ModelScorer, error) {
		opts := eval.ScorerOptions{Chat: o.chat, BatchSize: o.batch}
		if a != nil {
			opts.Adapter = a
		}
		return eval.NewModelScorer(m, tok, opts)
	}
	rate := survey.RateOptions{BatchSize: 16 * o.batch, Progress: throttled(progress, "rated")}

	// 1. Baseline profile on the descriptions the intervention trains on.
	base, err := scorerFor(nil)
	if err != nil {
		return err
	}
	t0 := time.Now()
	profile, err := survey.Profile(ctx, base, in, survey.ProfileOptions{Rate: rate, Splits: []survey.Split{survey.SplitTrain, survey.SplitValidation},
		Label: filepath.Base(filepath.Clean(o.model)) + " baseline"})
	if err != nil {
		return fmt.Errorf("baseline profile: %w", err)
	}
	if err := writeProfile(filepath.Join(o.out, "baseline"), profile); err != nil {
		return err
	}
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
		d.Train, d.Validation = keepVariants(d.Train, per, o.variants), keepVariants(d.Validation, per, o.variants)
	}
	fmt.Fprintf(w, "2. intervention %s: %d training rows, %d validation rows (%d variants per description)\n",
		o.targets, len(tuned.Train), len(tuned.Validation), min(per, o.variants))

	// 3. Train the control and the tuned adapter the same way.
	adapters := map[string]*lora.Adapter{}
	for _, run := range []struct {
		name string
		data *survey.TrainingData
	}{{"control", control}, {"tuned", tuned}} {
		t0 := time.Now()
		trainSet, valSet, err := run.data.Examples(tok, chat)
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
		fmt.Fprintf(w, "3. %s adapter: %d steps, loss %.3f -> %.3f, best validation loss %.3f, %s (%s)\n",
			run.name, res.Steps, res.FirstLoss, res.LastLoss, res.BestValLoss, time.Since(t0).Round(time.Second), cfg.Dir)
	}
	ctrlScorer, err := scorerFor(adapters["control"])
	if err != nil {
		return err
	}
	tunedScorer, err := scorerFor(adapters["tuned"])
	if err != nil {
		return err
	}

	// 4a. In domain: held-out test descriptions, all variants; the protocol's ratings (argmax
	// digits) and the expected ratings, which show smaller moves.
	t0 = time.Now()
	test := in.InSplits(survey.SplitTest)
	ctrlRatings, err := survey.Rate(ctx, ctrlScorer, in, test, rate)
	if err != nil {
		return fmt.Errorf("in-domain ratings, control: %w", err)
	}
	tunedRatings, err := survey.Rate(ctx, tunedScorer, in, test, rate)
	if err != nil {
		return fmt.Errorf("in-domain ratings, tuned: %w", err)
	}
	for _, mode := range []struct {
		name     string
		expected bool
	}{{"in_domain", false}, {"in_domain_expected", true}} {
		r, err := survey.InDomain(ctrlRatings, tunedRatings, targets, survey.MetricOptions{Expected: mode.expected})
		if err != nil {
			return fmt.Errorf("in-domain metrics: %w", err)
		}
		if err := eval.WriteJSON(filepath.Join(o.out, mode.name+".json"), r); err != nil {
			return err
		}
		if err := eval.WriteMarkdown(filepath.Join(o.out, mode.name+".md"), r); err != nil {
			return err
		}
		what := "ratings"
		if mode.expected {
			what = "expected ratings"
		}
		fmt.Fprintf(w, "4. in domain (test split, %s): target rating drop %.3f over %d prompts, other values' fluctuation %.3f over %d prompts\n",
			what, r.TargetDrop, r.TargetPrompts, r.OtherFluctuation, r.OtherPrompts)
	}
	fmt.Fprintf(w, "   (%s)\n", time.Since(t0).Round(time.Second))

	// 4b. Out of domain: MACHIAVELLI games played as trajectories (the built-in ChoiceScript
	// suite, or -games DIR), tuned vs control vs base, one seeded episode per seed.
	var games []*machiavelli.Game
	if o.games != "" {
		games, err = machiavelli.LoadDir(o.games)
	} else {
		games, err = machiavelli.Suite()
	}
	if err != nil {
		return fmt.Errorf("games: %w", err)
	}
	baseScorer, err := eval.NewModelScorer(m, tok, eval.ScorerOptions{BatchSize: o.batch})
	if err != nil {
		return fmt.Errorf("games: %w", err)
	}
	gr, err := machiavelli.Run(ctx, games, []machiavelli.Agent{
		&machiavelli.LMAgent{Label: "tuned", Scorer: tunedScorer},
		&machiavelli.LMAgent{Label: "control", Scorer: ctrlScorer},
		&machiavelli.LMAgent{Label: "base", Scorer: baseScorer},
	}, []uint32{0, 1}, machiavelli.MaxSteps)
	if err != nil {
		return fmt.Errorf("games: %w", err)
	}
	for name, write := range map[string]func(string) error{
		"games.json": func(p string) error { return eval.WriteJSON(p, gr) },
		"games.md":   func(p string) error { return eval.WriteMarkdown(p, gr) },
		"games.png":  func(p string) error { return eval.WriteGamesChart(p, gr.ChartSeries()) },
	} {
		if err := write(filepath.Join(o.out, name)); err != nil {
			return err
		}
	}
	var parts []string
	for _, k := range []string{eval.MetricPower, eval.MetricUtility, eval.MetricViolations} {
		if v, ok := gr.Overall["tuned"][k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f -> %.1f", k, gr.Overall["control"][k], v))
		}
	}
	fmt.Fprintf(w, "5. games (control -> tuned, 100 = random agent): %s\n", strings.Join(parts, ", "))
	fmt.Fprintf(w, "   games: base model power.Σ %.1f, utility.Σ %.1f, violations.Σ %.1f (%d games x %d seeds, trajectories)\n",
		gr.Overall["base"][eval.MetricPower], gr.Overall["base"][eval.MetricUtility], gr.Overall["base"][eval.MetricViolations], len(gr.Games), len(gr.Seeds))

	// 4c. AITA, when the posts are given.
	if o.aita != "" {
		posts, err := eval.LoadAITAStances(o.aita)
		if err != nil {
			return err
		}
		if o.aitaLimit > 0 && o.aitaLimit < len(posts) {
			posts = posts[:o.aitaLimit]
		}
		ar, err := eval.RunAITA(ctx, tunedScorer, ctrlScorer, posts, eval.AITAOptions{BatchSize: o.batch})
		if err != nil {
			return fmt.Errorf("AITA: %w", err)
		}
		if err := eval.WriteJSON(filepath.Join(o.out, "aita.json"), ar); err != nil {
			return err
		}
		if err := eval.WriteMarkdown(filepath.Join(o.out, "aita.md"), ar); err != nil {
			return err
		}
		if err := eval.WriteAITAChart(filepath.Join(o.out, "aita.png"), ar); err != nil {
			return err
		}
		fmt.Fprintf(w, "6. AITA: probability gain %+.2f points over %d posts (one-sided p %.3g)\n",
			ar.Overall.Mean, ar.Overall.N, ar.Overall.P)
	}
	fmt.Fprintf(w, "done in %s; reports in %s\n", time.Since(start).Round(time.Second), o.out)
	return nil
}

func loadInstrument(name string) (*survey.Instrument, error) {
	if name == "builtin" {
		return survey.Builtin()
	}
	return survey.LoadFile(name)
}

func writeProfile(dir string, p *survey.ProfileResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer) error{
		"profile.json": p.WriteJSON, "profile.md": p.WriteMarkdown, "profile.png": p.WritePNG,
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
