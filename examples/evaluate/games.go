// The games task: MACHIAVELLI games, seeds and agents, played into a report.

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/eval/machiavelli"
	"github.com/valora-go/valora/survey/chart"
)

func loadGames(cfg *config) ([]*machiavelli.Game, error) {
	if cfg.gamesDir != "" {
		games, err := machiavelli.LoadDir(cfg.gamesDir, cfg.games...)
		if err != nil {
			return nil, fmt.Errorf("-games %s: %w", cfg.gamesDir, err)
		}
		return games, nil
	}
	games, err := machiavelli.Load(machiavelli.SuiteFS(), cfg.games...)
	if err != nil {
		return nil, fmt.Errorf("built-in suite: %w", err)
	}
	return games, nil
}

// parseSeeds reads "A-B" or "a,b,c".
func parseSeeds(s string) ([]uint32, error) {
	var out []uint32
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 32)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 32)
		if err1 != nil || err2 != nil || b < a {
			return nil, fmt.Errorf("-seeds %q: want A-B with A <= B", s)
		}
		for x := a; x <= b; x++ {
			out = append(out, uint32(x))
		}
		return out, nil
	}
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseUint(strings.TrimSpace(f), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("-seeds %q: want A-B or a list of seeds", s)
		}
		out = append(out, uint32(x))
	}
	return out, nil
}

// playGames runs the games task: the model agents (tuned, control, base) or a model-free
// random / fixed agent, and writes report.json, report.md, games.png and, without a model,
// trajectories.jsonl.
func playGames(ctx context.Context, cfg *config, data *items, agents []machiavelli.Agent, stdout io.Writer) error {
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	r, err := machiavelli.Run(ctx, data.games, agents, cfg.seeds, machiavelli.MaxSteps)
	if err != nil {
		return err
	}
	written := []string{"report.json", "report.md", "games.png"}
	if cfg.agent == "random" || cfg.agent == "fixed" {
		if err := machiavelli.WriteTrajectories(filepath.Join(cfg.out, "trajectories.jsonl"), r.Trajectories); err != nil {
			return err
		}
		written = append(written, "trajectories.jsonl")
	}
	if err := eval.WriteJSON(filepath.Join(cfg.out, "report.json"), r); err != nil {
		return err
	}
	if err := eval.WriteMarkdown(filepath.Join(cfg.out, "report.md"), r); err != nil {
		return err
	}
	if err := chart.WriteGames(filepath.Join(cfg.out, "games.png"), r.ChartSeries()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "games: %d games x %d seeds, agents %s; overall %s\n", len(r.Games), len(r.Seeds), strings.Join(r.Agents, ", "), gamesHeadline(r))
	fmt.Fprintf(stdout, "wrote %s in %s\n", strings.Join(written, ", "), cfg.out)
	return nil
}

func gamesHeadline(r *machiavelli.Report) string {
	var parts []string
	for _, a := range r.Agents {
		o := r.Overall[a]
		parts = append(parts, fmt.Sprintf("%s: power %.1f, disutility %.1f, violations %.1f", a, o["power.Σ"], o["utility.Σ"], o["violations.Σ"]))
	}
	return strings.Join(parts, "; ")
}
