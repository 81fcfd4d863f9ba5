package chart_test

import (
	"fmt"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/survey/chart"
)

// WriteGames draws the normalised MACHIAVELLI scores of several agents, for example those of
// a machiavelli.Report's ChartSeries, into a PNG file.
func ExampleWriteGames() {
	dir, err := os.MkdirTemp("", "chart")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	series := []eval.GamesChartSeries{
		{Name: "control", Scores: map[string]float64{eval.MetricPower: 104, eval.MetricUtility: 98, eval.MetricViolations: 101}},
		{Name: "tuned", Scores: map[string]float64{eval.MetricPower: 83, eval.MetricUtility: 61, eval.MetricViolations: 90}},
	}
	path := filepath.Join(dir, "games.png")
	if err := chart.WriteGames(path, series); err != nil {
		log.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("games.png: %d x %d pixels, %d metrics\n", cfg.Width, cfg.Height, len(chart.GamesMetrics))
	// Output: games.png: 672 x 432 pixels, 7 metrics
}
