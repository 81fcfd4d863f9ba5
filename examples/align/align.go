// The align pipeline: the baseline profile, the intervention, the tuned and control adapters
// and the in-domain measurements; the out-of-domain steps are in outofdomain.go.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/examples/internal/cli"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/survey"
	"github.com/valora-go/valora/survey/chart"
	"github.com/valora-go/valora/tokenize"
	"github.com/valora-go/valora/train"
)

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

	// 4b. Out of domain: the games, and AITA when the posts are given.
	if err := playGames(ctx, o, rep, w, base, ctrlScorer, tunedScorer); err != nil {
		return err
	}
	if o.aita != "" {
		if err := aitaGain(ctx, o, rep, w, targets, base, ctrlScorer, tunedScorer); err != nil {
			return err
		}
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
