// The out-of-domain steps of align: MACHIAVELLI games played by the three models, and the AITA
// probability gain on the posts of each target value.

package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/eval/machiavelli"
	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/survey"
	"github.com/valora-go/valora/survey/chart"
)

// playGames is the games step: MACHIAVELLI games played as trajectories (the built-in
// ChoiceScript suite, or -games DIR), tuned vs control vs base, one seeded episode per seed.
func playGames(ctx context.Context, o *options, rep *report, w io.Writer, base, ctrlScorer, tunedScorer *score.ModelScorer) error {
	p := o.preset
	t0 := time.Now()
	var games []*machiavelli.Game
	var err error
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
	return nil
}

// aitaGain is the AITA step: the probability gain of the tuned model over the control on the
// posts of each target value.
func aitaGain(ctx context.Context, o *options, rep *report, w io.Writer, targets []survey.Target, base, ctrlScorer, tunedScorer *score.ModelScorer) error {
	t0 := time.Now()
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
		eval.AITATargetOptions{AITAOptions: eval.AITAOptions{BatchSize: o.batch}, Cap: o.preset.AITACap, Seed: o.seed})
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
	return nil
}
