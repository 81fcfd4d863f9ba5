package chart

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/valora-go/valora/survey"
)

// WriteProfiles draws one or more value profiles side by side (for example baseline, control
// and tuned) as a grouped PNG bar chart and writes it to w: the mean majority rating of each
// of the 20 values, in their circular order (survey.Values), one colour per profile (those of
// plotutil.Color, in turn), labelled by Label. A single profile is drawn without a legend,
// its label in the title. Values a profile did not rate are drawn as 0.
func WriteProfiles(w io.Writer, results ...*survey.ProfileResult) error {
	if len(results) == 0 {
		return fmt.Errorf("chart: profile chart: no profiles")
	}
	for i, r := range results {
		if r == nil {
			return fmt.Errorf("chart: profile chart: profile %d is nil", i+1)
		}
	}
	p := plot.New()
	p.Title.Text = "Value profile"
	p.Y.Label.Text = "mean majority rating"
	p.Y.Min, p.Y.Max = 0, 6
	names := make([]string, 0, 20)
	for _, v := range survey.Values() {
		names = append(names, string(v))
	}
	width := vg.Points(math.Max(3, 18/float64(len(results))))
	for i, res := range results {
		vals := make(plotter.Values, len(names))
		for j, v := range survey.Values() {
			if a, ok := res.Value(v); ok {
				vals[j] = a.Majority
			}
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return fmt.Errorf("chart: profile chart: %w", err)
		}
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = width * vg.Length(float64(i)-float64(len(results)-1)/2)
		p.Add(bars)
		label := res.Label
		if label == "" {
			label = fmt.Sprintf("profile %d", i+1)
		}
		if len(results) > 1 {
			p.Legend.Add(label, bars)
		} else {
			p.Title.Text += ": " + label
		}
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(40)
	var ticks []plot.Tick
	for k := 0; k <= 6; k++ {
		ticks = append(ticks, plot.Tick{Value: float64(k), Label: fmt.Sprint(k)})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Add(plotter.NewGrid())
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 3
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = text.YCenter
	p.BackgroundColor = color.White
	wt, err := p.WriterTo(28*vg.Centimeter, 16*vg.Centimeter, "png")
	if err != nil {
		return fmt.Errorf("chart: profile chart: %w", err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("chart: profile chart: write PNG: %w", err)
	}
	return nil
}

// ProfilesPNG returns a writer of WriteProfiles's chart of results, in the form that
// survey.WriteFileAtomic takes:
//
//	survey.WriteFileAtomic("profile.png", chart.ProfilesPNG(res))
func ProfilesPNG(results ...*survey.ProfileResult) func(io.Writer) error {
	return func(w io.Writer) error { return WriteProfiles(w, results...) }
}
