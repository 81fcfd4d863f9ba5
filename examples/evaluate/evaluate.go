// Running an evaluation: the tuned and control models, their scorers and the task's runner.

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/eval/machiavelli"
	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/examples/internal/cli"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/survey/chart"
	"github.com/valora-go/valora/tokenize"
)

// evaluate loads the data, the model and the adapters, runs the task and writes the report.
func evaluate(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	data, err := load(cfg)
	if err != nil {
		return err
	}
	if cfg.task == taskGames && (cfg.agent == "random" || cfg.agent == "fixed") {
		var agent machiavelli.Agent = machiavelli.RandomAgent{}
		if cfg.agent == "fixed" {
			agent = &machiavelli.FixedAgent{Actions: cfg.actions}
		}
		return playGames(ctx, cfg, data, []machiavelli.Agent{agent}, stdout)
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	s, err := cfg.ck.Load()
	if err != nil {
		return err
	}
	defer s.Close()
	m, tok := s.Model, s.Tokenizer
	if cfg.ck.Adapter == "" && cfg.controlDir == "" {
		fmt.Fprintf(stderr, "evaluate: warning: neither -adapter nor -control: tuned and control are both the base model\n")
	} else if cfg.ck.Adapter != "" && filepath.Clean(cfg.ck.Adapter) == filepath.Clean(cfg.controlDir) {
		fmt.Fprintf(stderr, "evaluate: warning: -adapter and -control are the same directory\n")
	}
	tuned, err := newScorer(cfg, m, tok, cfg.ck.Adapter, "-adapter")
	if err != nil {
		return err
	}
	control, err := newScorer(cfg, m, tok, cfg.controlDir, "-control")
	if err != nil {
		return err
	}
	total := data.n
	tunedP := &progress{s: tuned, name: "tuned", total: total, w: stderr}
	controlP := &progress{s: control, name: "control", total: total, w: stderr}
	fmt.Fprintf(stderr, "evaluate: %s on %s: %d items\n", cfg.task, data.source, data.n)

	batch := max(score.DefaultCallBatch, cfg.batch)
	var (
		rep      eval.MarkdownReport
		headline string
		chartPNG string
		writeCh  func(path string) error
	)
	switch cfg.task {
	case taskAITA:
		r, err := eval.RunAITA(ctx, tunedP, controlP, data.aita, eval.AITAOptions{BatchSize: batch})
		if err != nil {
			return err
		}
		rep, headline = r, aitaHeadline(r)
		chartPNG, writeCh = "pg_by_value.png", func(p string) error { return chart.WriteAITA(p, r) }
	case taskVerdicts:
		r, err := eval.RunVerdicts(ctx, tunedP, controlP, data.verdicts, eval.AITAOptions{BatchSize: batch})
		if err != nil {
			return err
		}
		rep, headline = r, verdictsHeadline(r, data.format)
	case taskEthics, taskMoralStories:
		r, err := eval.RunMoral(ctx, tunedP, controlP, data.moral, eval.MoralOptions{BatchSize: batch})
		if err != nil {
			return err
		}
		rep, headline = r, moralHeadline(cfg.task, r)
	case taskGames:
		base, err := newScorer(cfg, m, tok, "", "-model")
		if err != nil {
			return err
		}
		var agents []machiavelli.Agent
		for _, x := range []struct {
			name string
			s    score.Scorer
		}{{"tuned", tunedP}, {"control", controlP}, {"base", base}} {
			agents = append(agents, &machiavelli.LMAgent{Label: x.name, Scorer: x.s, Sample: cfg.agent == "sample", Seed: cfg.seed})
		}
		return playGames(ctx, cfg, data, agents, stdout)
	}

	info := runInfo{Task: cfg.task, Model: cfg.ck.Model, Tokenizer: cfg.ck.Tokenizer, Adapter: cfg.ck.Adapter,
		Control: cfg.controlDir, Data: data.source, Format: data.format, Chat: cfg.ck.Chat, Limit: cfg.limit,
		Items: data.n, Report: rep}
	if cfg.task == taskEthics {
		info.ShortOnly = &cfg.shortOnly
	}
	written := []string{"report.json", "report.md"}
	if err := eval.WriteJSON(filepath.Join(cfg.out, "report.json"), info); err != nil {
		return err
	}
	if err := eval.WriteMarkdown(filepath.Join(cfg.out, "report.md"), info); err != nil {
		return err
	}
	if writeCh != nil {
		if err := writeCh(filepath.Join(cfg.out, chartPNG)); err != nil {
			return err
		}
		written = append(written, chartPNG)
	}
	fmt.Fprintln(stdout, headline)
	fmt.Fprintf(stdout, "wrote %s in %s\n", strings.Join(written, ", "), cfg.out)
	return nil
}

// newScorer is the model scorer of the base model plus the adapter in dir (none when dir is
// empty); flagName names the flag in errors.
func newScorer(cfg *config, m *model.Model, tok *tokenize.Tokenizer, dir, flagName string) (*score.ModelScorer, error) {
	var ad *lora.Adapter
	if dir != "" {
		var err error
		if ad, err = lora.Load(dir, m); err != nil {
			return nil, fmt.Errorf("%s: %w", flagName, err)
		}
	}
	return cli.NewScorer(m, tok, ad, cfg.ck.Chat, cfg.batch)
}
