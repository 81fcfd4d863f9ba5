package chart

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/internal/atomicfile"
)

// GamesMetrics are the metrics drawn by WriteGames, in their order on the x axis: the power,
// disutility and violation totals and the power components.
var GamesMetrics = []string{eval.MetricPower, "power.money", "power.physical", "power.social",
	"power.utility", eval.MetricUtility, eval.MetricViolations}

// meanSE is a bar series with symmetric error bars: plotter.XYer and plotter.YErrorer.
type meanSE struct {
	x, y, e []float64
}

func (m meanSE) Len() int                    { return len(m.y) }
func (m meanSE) XY(i int) (float64, float64) { return m.x[i], m.y[i] }
func (m meanSE) YError(i int) (float64, float64) {
	return m.e[i], m.e[i]
}

// WriteAITA draws the mean probability gain per value (and over all posts), in percentage
// points, with ±1 standard-error bars, and writes it as a PNG to path, atomically.
func WriteAITA(path string, r *eval.AITAReport) error {
	if r == nil || len(r.Values) == 0 {
		return fmt.Errorf("chart: AITA chart %s: empty report", path)
	}
	names := make([]string, 0, len(r.Values)+1)
	var s meanSE
	for i, v := range append(append([]eval.AITAValueResult{}, r.Values...), eval.AITAValueResult{Value: "all posts", PG: r.Overall}) {
		names = append(names, v.Value)
		s.x = append(s.x, float64(i))
		s.y = append(s.y, v.PG.Mean)
		s.e = append(s.e, v.PG.SE)
	}
	p := plot.New()
	p.Title.Text = "AITA probability gain, tuned vs control"
	p.Y.Label.Text = "PG (percentage points), ±1 SE"
	bars, err := plotter.NewBarChart(plotter.Values(s.y), vg.Points(14))
	if err != nil {
		return fmt.Errorf("chart: AITA chart %s: %w", path, err)
	}
	bars.Color = color.RGBA{R: 70, G: 110, B: 180, A: 255}
	bars.LineStyle.Width = 0
	eb, err := plotter.NewYErrorBars(s)
	if err != nil {
		return fmt.Errorf("chart: AITA chart %s: %w", path, err)
	}
	p.Add(bars, eb, plotter.NewGrid(), zeroLine(len(names)))
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YTop
	w := vg.Length(max(6, 0.5*float64(len(names))+2)) * vg.Inch
	return savePNG(p, path, w, 4.5*vg.Inch)
}

func zeroLine(n int) *plotter.Line {
	l, _ := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 0}, {X: float64(n) - 0.5, Y: 0}})
	l.Color = color.Gray{Y: 80}
	return l
}

// gamesPalette colours the series of WriteGames, in turn.
var gamesPalette = []color.Color{color.RGBA{R: 150, G: 150, B: 150, A: 255}, color.RGBA{R: 200, G: 80, B: 60, A: 255},
	color.RGBA{R: 60, G: 110, B: 190, A: 255}, color.RGBA{R: 90, G: 160, B: 90, A: 255}}

// WriteGames draws the normalised MACHIAVELLI scores of each agent (one bar colour per series;
// 100 = random agent, marked by a line) for GamesMetrics, and writes a PNG to path,
// atomically. A metric missing from a series, or NaN, is drawn as 0.
func WriteGames(path string, series []eval.GamesChartSeries) error {
	if len(series) == 0 {
		return fmt.Errorf("chart: games chart %s: no series", path)
	}
	p := plot.New()
	p.Title.Text = "MACHIAVELLI trajectories"
	p.Y.Label.Text = "score (100 = random agent)"
	width := vg.Points(36 / float64(len(series)))
	p.Add(plotter.NewGrid())
	for i, s := range series {
		var vals plotter.Values
		for _, m := range GamesMetrics {
			v := s.Scores[m]
			if math.IsNaN(v) {
				v = 0
			}
			vals = append(vals, v)
		}
		bc, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return fmt.Errorf("chart: games chart %s: %w", path, err)
		}
		bc.Color = gamesPalette[i%len(gamesPalette)]
		bc.LineStyle.Width = 0
		bc.Offset = width * vg.Length(float64(i)-float64(len(series)-1)/2)
		p.Add(bc)
		p.Legend.Add(s.Name, bc)
	}
	ref, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 100}, {X: float64(len(GamesMetrics)) - 0.5, Y: 100}})
	if err != nil {
		return fmt.Errorf("chart: games chart %s: %w", path, err)
	}
	ref.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(ref)
	p.Legend.Top = true
	p.NominalX(GamesMetrics...)
	return savePNG(p, path, 7*vg.Inch, 4.5*vg.Inch)
}

func savePNG(p *plot.Plot, path string, w, h vg.Length) error {
	// Leave some room above and below the data so bars do not touch the frame.
	pad := 0.08 * (p.Y.Max - p.Y.Min)
	p.Y.Max += pad
	if p.Y.Min < 0 {
		p.Y.Min -= pad
	}
	wt, err := p.WriterTo(w, h, "png")
	if err != nil {
		return fmt.Errorf("chart: %s: %w", path, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return fmt.Errorf("chart: %s: render: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes()); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}
