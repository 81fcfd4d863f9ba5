package survey

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/internal/atomicfile"
)

// ProfileOptions control Profile.
type ProfileOptions struct {
	Rate   RateOptions
	Splits []Split // the descriptions to rate; all when empty
	Label  string  // a name for the model, kept in the result (e.g. "Qwen3-8B base")
}

// DescriptionResult is the vote of one description over its variants.
type DescriptionResult struct {
	Description int     `json:"description"`
	Value       Value   `json:"value"`
	Level1      Level1  `json:"level1"`
	Split       Split   `json:"split"`
	Majority    int     `json:"majority"`      // Vote over the variants' ratings
	MeanRating  float64 `json:"mean_rating"`   // mean of the variants' ratings
	Expected    float64 `json:"mean_expected"` // mean of the variants' expected ratings
	Votes       [6]int  `json:"votes"`         // how many variants gave 1..6
}

// Aggregate is the mean over the descriptions of one group (a level-1 value, a value or a
// basic value): Majority is the mean of their majority votes (the profile number of the
// protocol), Rating the mean of all their variants' ratings, Expected the mean of all their
// variants' expected ratings.
type Aggregate struct {
	Name         string  `json:"name"`
	Descriptions int     `json:"descriptions"`
	Majority     float64 `json:"majority"`
	Rating       float64 `json:"rating"`
	Expected     float64 `json:"expected"`
}

// ProfileResult is a model's value profile: every variant's rating, every description's vote
// and the means per level-1 value, value (the 20, in circular order) and basic value (means
// over the descriptions of the basic value, not means of its values' means). Groups without
// rated descriptions are left out.
type ProfileResult struct {
	Label        string              `json:"label,omitempty"`       // the model's name in reports (optional)
	Instrument   string              `json:"instrument"`            // Instrument.Name
	Mode         Mode                `json:"mode"`                  // how ratings were read: logit or sampled
	Temperature  float64             `json:"temperature,omitempty"` // ModeSampled: the sampling temperature
	Seed         int64               `json:"seed,omitempty"`        // ModeSampled: the seed of the draws
	Values       []Aggregate         `json:"values"`                // per value, the 20 in circular order
	Basic        []Aggregate         `json:"basic_values"`          // per basic value (the 10 of Schwartz)
	Level1       []Aggregate         `json:"level1_values"`         // per level-1 value ("Be creative", ...)
	Descriptions []DescriptionResult `json:"descriptions"`          // per description: votes and majority
	Ratings      []Rating            `json:"ratings"`               // every variant's rating
}

// Profile rates every variant of the chosen descriptions with the scorer (see Rate) and
// aggregates the ratings (see NewProfile).
func Profile(ctx context.Context, s score.Scorer, in *Instrument, opts ProfileOptions) (*ProfileResult, error) {
	ratings, err := Rate(ctx, s, in, in.InSplits(opts.Splits...), opts.Rate)
	if err != nil {
		return nil, err
	}
	res, err := NewProfile(in, ratings)
	if err != nil {
		return nil, err
	}
	res.Label = opts.Label
	res.Mode = opts.Rate.Mode
	if res.Mode == "" {
		res.Mode = ModeLogit
	}
	if res.Mode == ModeSampled {
		res.Temperature = positiveOr(opts.Rate.Temperature, DefaultTemperature)
		res.Seed = opts.Rate.Seed
	}
	return res, nil
}

// NewProfile aggregates ratings of in's variants: a majority vote per description (see
// Vote) and the means per level-1 value, value and basic value. Ratings of one description
// may come in any order.
func NewProfile(in *Instrument, ratings []Rating) (*ProfileResult, error) {
	res := &ProfileResult{Instrument: in.Name, Mode: ModeLogit, Ratings: ratings}
	byDesc := map[int][]Rating{}
	var order []int
	for _, r := range ratings {
		if r.Description < 0 || r.Description >= len(in.Descriptions) {
			return nil, fmt.Errorf("survey: profile: rating of description %d, instrument %s has %d", r.Description, in.Name, len(in.Descriptions))
		}
		if _, ok := byDesc[r.Description]; !ok {
			order = append(order, r.Description)
		}
		byDesc[r.Description] = append(byDesc[r.Description], r)
	}
	type acc struct {
		n                     int
		maj, rating, expected float64
		nVariants             int
	}
	lv1, val, basic := map[string]*acc{}, map[string]*acc{}, map[string]*acc{}
	add := func(m map[string]*acc, k string, dr DescriptionResult, rs []Rating) {
		a := m[k]
		if a == nil {
			a = &acc{}
			m[k] = a
		}
		a.n++
		a.maj += float64(dr.Majority)
		for _, r := range rs {
			a.rating += float64(r.Rating)
			a.expected += r.Expected
			a.nVariants++
		}
	}
	for _, di := range order {
		rs := byDesc[di]
		d := in.Descriptions[di]
		votes := make([]int, len(rs))
		dr := DescriptionResult{Description: di, Value: d.Value, Level1: d.Level1, Split: d.Split}
		for i, r := range rs {
			votes[i] = r.Rating
			dr.MeanRating += float64(r.Rating)
			dr.Expected += r.Expected
		}
		maj, err := Vote(votes)
		if err != nil {
			return nil, fmt.Errorf("survey: profile: description %d: %w", di, err)
		}
		for _, v := range votes {
			dr.Votes[v-1]++
		}
		dr.Majority = maj
		dr.MeanRating /= float64(len(rs))
		dr.Expected /= float64(len(rs))
		res.Descriptions = append(res.Descriptions, dr)
		add(lv1, string(d.Level1), dr, rs)
		add(val, string(d.Value), dr, rs)
		add(basic, string(d.Value.Basic()), dr, rs)
	}
	mk := func(m map[string]*acc, k string) (Aggregate, bool) {
		a := m[k]
		if a == nil {
			return Aggregate{}, false
		}
		return Aggregate{Name: k, Descriptions: a.n, Majority: a.maj / float64(a.n),
			Rating: a.rating / float64(a.nVariants), Expected: a.expected / float64(a.nVariants)}, true
	}
	for _, v := range Values() {
		if a, ok := mk(val, string(v)); ok {
			res.Values = append(res.Values, a)
		}
		for _, l := range v.Level1() {
			if a, ok := mk(lv1, string(l)); ok {
				res.Level1 = append(res.Level1, a)
			}
		}
	}
	for _, b := range BasicValues() {
		if a, ok := mk(basic, string(b)); ok {
			res.Basic = append(res.Basic, a)
		}
	}
	return res, nil
}

// Baseline maps a description index to the model's baseline majority rating.
type Baseline map[int]int

// Baseline returns the majority vote of every rated description.
func (r *ProfileResult) Baseline() Baseline {
	b := Baseline{}
	for _, d := range r.Descriptions {
		b[d.Description] = d.Majority
	}
	return b
}

// Value returns the aggregate of value v, if it was rated.
func (r *ProfileResult) Value(v Value) (Aggregate, bool) {
	for _, a := range r.Values {
		if a.Name == string(v) {
			return a, true
		}
	}
	return Aggregate{}, false
}

// WriteJSON writes the result as indented JSON (ReadProfile reads it back).
func (r *ProfileResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("survey: write profile JSON: %w", err)
	}
	return nil
}

// ReadProfile reads a result written by WriteJSON.
func ReadProfile(rd io.Reader) (*ProfileResult, error) {
	var r ProfileResult
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("survey: read profile JSON: %w", err)
	}
	return &r, nil
}

// WriteMarkdown writes the profile as Markdown tables: the 20 values in circular order
// (basic value, descriptions, mean majority, mean rating, mean expected rating), then the
// basic values.
func (r *ProfileResult) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	title := "Value profile"
	if r.Label != "" {
		title += ": " + r.Label
	}
	fmt.Fprintf(&b, "# %s\n\nInstrument %s, %s read-out", title, r.Instrument, r.Mode)
	if r.Mode == ModeSampled {
		fmt.Fprintf(&b, " (temperature %g, seed %d)", r.Temperature, r.Seed)
	}
	fmt.Fprintf(&b, ", %d descriptions, %d prompts.\n\n", len(r.Descriptions), len(r.Ratings))
	b.WriteString("| value | basic value | descriptions | majority | rating | expected |\n|---|---|---:|---:|---:|---:|\n")
	for _, a := range r.Values {
		fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %.2f | %.2f |\n", a.Name, Value(a.Name).Basic(), a.Descriptions, a.Majority, a.Rating, a.Expected)
	}
	b.WriteString("\n| basic value | descriptions | majority | rating | expected |\n|---|---:|---:|---:|---:|\n")
	for _, a := range r.Basic {
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2f |\n", a.Name, a.Descriptions, a.Majority, a.Rating, a.Expected)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteFileAtomic writes a file through write: into a temporary file in the same directory,
// renamed to path only when write and close succeed, so that no half-written file is left. It
// is valora's public atomic writer, for the survey's writers (WriteJSON, WriteMarkdown,
// chart.ProfilesPNG, ...) and any other func(io.Writer) error; eval's reports have
// eval.WriteJSON and eval.WriteMarkdown.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("survey: %w", err)
	}
	return nil
}
