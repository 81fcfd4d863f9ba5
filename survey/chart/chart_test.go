package chart_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/plotutil"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/survey"
	"github.com/valora-go/valora/survey/chart"
)

// decode reads a PNG and fails the test if it is not one.
func decode(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	return img
}

// readPNG decodes the PNG at path and checks that it is the only file in its directory (no
// temporary file left by the atomic write).
func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left")
	return decode(t, data)
}

// has reports whether some pixel of img is exactly c (bar interiors are drawn unblended).
func has(img image.Image, c color.Color) bool {
	r0, g0, b0, a0 := c.RGBA()
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, b, a := img.At(x, y).RGBA(); r == r0 && g == g0 && b == b0 && a == a0 {
				return true
			}
		}
	}
	return false
}

// Charts are drawn at 96 dots per inch (gonum's PNG default).
const dpi = 96

func TestWriteAITA(t *testing.T) {
	bar := color.RGBA{R: 70, G: 110, B: 180, A: 255}
	value := func(name string, mean, se float64) eval.AITAValueResult {
		return eval.AITAValueResult{Value: name, PG: eval.Summary{N: 4, Mean: mean, SE: se}}
	}
	many := make([]eval.AITAValueResult, 12)
	for i := range many {
		many[i] = value(string(rune('A'+i)), float64(i)-5, 1)
	}
	for _, tc := range []struct {
		name string
		r    *eval.AITAReport
		w, h int // pixels; 0: an error is expected
	}{
		{"nil report", nil, 0, 0},
		{"no values", &eval.AITAReport{Overall: eval.Summary{N: 3, Mean: 1}}, 0, 0},
		// 6 inches wide up to 8 bars (values and "all posts"), then half an inch more per bar.
		{"two values", &eval.AITAReport{Values: []eval.AITAValueResult{value("Achievement", 12, 3), value("Benevolence_caring", -5, 2)},
			Overall: eval.Summary{N: 8, Mean: 4, SE: 2}}, 6 * dpi, 4.5 * dpi},
		{"twelve values", &eval.AITAReport{Values: many, Overall: eval.Summary{N: 48, Mean: 0.5, SE: 0.3}}, (0.5*13 + 2) * dpi, 4.5 * dpi},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "aita.png")
			err := chart.WriteAITA(path, tc.r)
			if tc.w == 0 {
				require.ErrorContains(t, err, "chart: AITA chart "+path)
				_, statErr := os.Stat(path)
				require.True(t, os.IsNotExist(statErr), "no file written")
				return
			}
			require.NoError(t, err)
			img := readPNG(t, path)
			assert.Equal(t, image.Rect(0, 0, tc.w, tc.h), img.Bounds())
			assert.True(t, has(img, bar), "the bars are drawn in their colour")
		})
	}
}

func TestWriteGames(t *testing.T) {
	grey, red := color.RGBA{R: 150, G: 150, B: 150, A: 255}, color.RGBA{R: 200, G: 80, B: 60, A: 255}
	blue, green := color.RGBA{R: 60, G: 110, B: 190, A: 255}, color.RGBA{R: 90, G: 160, B: 90, A: 255}
	scores := func(v float64) map[string]float64 {
		m := map[string]float64{}
		for _, k := range chart.GamesMetrics {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name        string
		series      []eval.GamesChartSeries
		drawn, left []color.Color // colours that must and must not appear
	}{
		{"no series", nil, nil, nil},
		{"one agent", []eval.GamesChartSeries{{Name: "base", Scores: scores(90)}}, []color.Color{grey}, []color.Color{red, blue, green}},
		{"three agents, missing metrics", []eval.GamesChartSeries{{Name: "base", Scores: scores(100)},
			{Name: "control", Scores: map[string]float64{eval.MetricPower: 80}}, {Name: "tuned", Scores: scores(120)}},
			[]color.Color{grey, red, blue}, []color.Color{green}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "games.png")
			err := chart.WriteGames(path, tc.series)
			if tc.drawn == nil {
				require.ErrorContains(t, err, "chart: games chart "+path+": no series")
				return
			}
			require.NoError(t, err)
			img := readPNG(t, path)
			assert.Equal(t, image.Rect(0, 0, 7*dpi, 4.5*dpi), img.Bounds())
			for _, c := range tc.drawn {
				assert.True(t, has(img, c), "series colour %v drawn", c)
			}
			for _, c := range tc.left {
				assert.False(t, has(img, c), "colour %v of a series that is not there", c)
			}
		})
	}
}

// profile rates every variant of the built-in instrument with rate(variant index) and
// aggregates the ratings.
func profile(t *testing.T, label string, rate func(i int) int) *survey.ProfileResult {
	t.Helper()
	in, err := survey.Builtin()
	require.NoError(t, err)
	var rs []survey.Rating
	for i, v := range in.Variants(in.Descriptions) {
		rs = append(rs, survey.Rating{Variant: v, Rating: rate(i)})
	}
	p, err := survey.NewProfile(in, rs)
	require.NoError(t, err)
	p.Label = label
	return p
}

func TestWriteProfiles(t *testing.T) {
	base := profile(t, "base", func(i int) int { return 1 + i%6 })
	tuned := profile(t, "tuned", func(int) int { return 4 })
	// 28 x 16 cm at 96 dpi, to the nearest pixel.
	cm := float64(dpi) / 2.54
	size := image.Rect(0, 0, int(math.Round(28*cm)), int(math.Round(16*cm)))
	for _, tc := range []struct {
		name    string
		in      []*survey.ProfileResult
		err     string
		colours int // profiles drawn: plotutil.Color(0 .. colours-1) appear, the next does not
	}{
		{"none", nil, "no profiles", 0},
		{"a nil profile", []*survey.ProfileResult{base, nil}, "profile 2 is nil", 0},
		{"one", []*survey.ProfileResult{base}, "", 1},
		{"side by side", []*survey.ProfileResult{base, tuned, base}, "", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := chart.WriteProfiles(&buf, tc.in...)
			if tc.err != "" {
				require.ErrorContains(t, err, "chart: profile chart: "+tc.err)
				return
			}
			require.NoError(t, err)
			img := decode(t, buf.Bytes())
			assert.Equal(t, size, img.Bounds())
			for i := range tc.colours + 1 {
				assert.Equal(t, i < tc.colours, has(img, plotutil.Color(i)), "colour %d", i)
			}
		})
	}

	// ProfilesPNG writes the same chart through survey.WriteFileAtomic.
	var want bytes.Buffer
	require.NoError(t, chart.WriteProfiles(&want, base, tuned))
	path := filepath.Join(t.TempDir(), "profile.png")
	require.NoError(t, survey.WriteFileAtomic(path, chart.ProfilesPNG(base, tuned)))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, want.Bytes(), got)
}
