package survey

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/valora-go/valora/eval/score"
)

// MetricOptions control InDomain.
type MetricOptions struct {
	// Expected compares expected ratings (logit read-out) instead of the Rating field (the
	// argmax, or the sampled digit).
	Expected bool
}

// ValueShift is the in-domain change of one value between a control and a tuned model.
type ValueShift struct {
	Value     Value     `json:"value"`
	Target    bool      `json:"target"`
	Direction Direction `json:"direction,omitempty"` // for a target
	Prompts   int       `json:"prompts"`
	Control   float64   `json:"control"` // mean rating of the control model
	Tuned     float64   `json:"tuned"`   // mean rating of the tuned model
	// Drop is the mean of (control - tuned): the protocol's target rating drop (negative when
	// the tuned model rates higher, the aim of an Up target).
	Drop float64 `json:"drop"`
	// Fluctuation is the mean of |tuned - control|.
	Fluctuation float64 `json:"fluctuation"`
}

// InDomainResult holds the in-domain metrics of the protocol on the test split: how far the
// target values' ratings drop and how much the other values' ratings move, tuned against control.
type InDomainResult struct {
	TargetDrop       float64      `json:"target_drop"` // mean over target-value test prompts of control - tuned
	TargetPrompts    int          `json:"target_prompts"`
	OtherFluctuation float64      `json:"other_fluctuation"` // mean over other test prompts of |tuned - control|
	OtherPrompts     int          `json:"other_prompts"`
	PerValue         []ValueShift `json:"per_value"` // values in circular order
	// Mean ratings of each side over the prompts counted (target values, the other values).
	TargetControl float64 `json:"target_control"`
	TargetTuned   float64 `json:"target_tuned"`
	OtherControl  float64 `json:"other_control"`
	OtherTuned    float64 `json:"other_tuned"`
	// MissingControl and MissingTuned count the test prompts whose generated reply held no
	// digit (Rating.Missing) on each side; their pairs are left out of every mean.
	MissingControl int `json:"missing_control"`
	MissingTuned   int `json:"missing_tuned"`
}

// InDomain computes the in-domain metrics from the ratings of a control and a tuned model:
// only test-split ratings count; they are paired by description and variant, and every test
// rating of one side must have its partner on the other. Means are over prompts (variants),
// not descriptions. A pair where either side is Missing (a generated reply without a digit) is
// left out, unless Expected compares the logit read-outs, and counted in MissingControl /
// MissingTuned.
func InDomain(control, tuned []Rating, targets []Target, opts MetricOptions) (*InDomainResult, error) {
	type key struct{ d, v int }
	dir := map[Value]Direction{}
	for _, t := range targets {
		dir[t.Value] = t.Direction
	}
	score := func(r Rating) float64 {
		if opts.Expected {
			return r.Expected
		}
		return float64(r.Rating)
	}
	ctrl := map[key]Rating{}
	for _, r := range control {
		if r.Split == SplitTest {
			ctrl[key{r.Description, r.Number}] = r
		}
	}
	type acc struct {
		n                             int
		control, tuned, drop, absdiff float64
	}
	per := map[Value]*acc{}
	res := &InDomainResult{}
	var tDrop, oFluct float64
	matched := 0
	for _, c := range ctrl {
		if c.Missing && !opts.Expected {
			res.MissingControl++
		}
	}
	for _, r := range tuned {
		if r.Split != SplitTest {
			continue
		}
		c, ok := ctrl[key{r.Description, r.Number}]
		if !ok {
			return nil, fmt.Errorf("survey: in-domain: tuned rating of description %d variant %d has no control rating", r.Description, r.Number)
		}
		if c.Value != r.Value {
			return nil, fmt.Errorf("survey: in-domain: description %d: control says value %s, tuned %s", r.Description, c.Value, r.Value)
		}
		matched++
		if !opts.Expected && (r.Missing || c.Missing) {
			if r.Missing {
				res.MissingTuned++
			}
			continue
		}
		cs, ts := score(c), score(r)
		a := per[r.Value]
		if a == nil {
			a = &acc{}
			per[r.Value] = a
		}
		a.n++
		a.control += cs
		a.tuned += ts
		a.drop += cs - ts
		a.absdiff += math.Abs(ts - cs)
		if _, isT := dir[r.Value]; isT {
			res.TargetPrompts++
			tDrop += cs - ts
			res.TargetControl += cs
			res.TargetTuned += ts
		} else {
			res.OtherPrompts++
			oFluct += math.Abs(ts - cs)
			res.OtherControl += cs
			res.OtherTuned += ts
		}
	}
	if matched != len(ctrl) {
		return nil, fmt.Errorf("survey: in-domain: %d control test ratings, %d of them matched by tuned ratings", len(ctrl), matched)
	}
	if matched == 0 {
		return nil, fmt.Errorf("survey: in-domain: no test-split ratings")
	}
	if res.TargetPrompts > 0 {
		n := float64(res.TargetPrompts)
		res.TargetDrop, res.TargetControl, res.TargetTuned = tDrop/n, res.TargetControl/n, res.TargetTuned/n
	}
	if res.OtherPrompts > 0 {
		n := float64(res.OtherPrompts)
		res.OtherFluctuation, res.OtherControl, res.OtherTuned = oFluct/n, res.OtherControl/n, res.OtherTuned/n
	}
	for _, v := range Values() {
		a := per[v]
		if a == nil {
			continue
		}
		n := float64(a.n)
		d, isT := dir[v]
		res.PerValue = append(res.PerValue, ValueShift{Value: v, Target: isT, Direction: d, Prompts: a.n,
			Control: a.control / n, Tuned: a.tuned / n, Drop: a.drop / n, Fluctuation: a.absdiff / n})
	}
	return res, nil
}

// InDomainScorers rates every variant of the test descriptions with a control and a tuned
// scorer (same RateOptions, so the same seed in sampled mode) and computes InDomain.
func InDomainScorers(ctx context.Context, control, tuned score.Scorer, in *Instrument, targets []Target, rate RateOptions, opts MetricOptions) (*InDomainResult, error) {
	test := in.InSplits(SplitTest)
	c, err := Rate(ctx, control, in, test, rate)
	if err != nil {
		return nil, fmt.Errorf("survey: in-domain: control: %w", err)
	}
	t, err := Rate(ctx, tuned, in, test, rate)
	if err != nil {
		return nil, fmt.Errorf("survey: in-domain: tuned: %w", err)
	}
	return InDomain(c, t, targets, opts)
}

// Markdown renders the in-domain metrics as a table, values in circular order.
func (r *InDomainResult) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Target rating drop (control - tuned): **%.3f** over %d prompts; other values' fluctuation |tuned - control|: **%.3f** over %d prompts.\n\n",
		r.TargetDrop, r.TargetPrompts, r.OtherFluctuation, r.OtherPrompts)
	b.WriteString("| value | target | prompts | control | tuned | drop | fluctuation |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, v := range r.PerValue {
		target := ""
		if v.Target {
			target = "down"
			if v.Direction == Up {
				target = "up"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.3f | %.3f | %.3f | %.3f |\n", v.Value, target, v.Prompts, v.Control, v.Tuned, v.Drop, v.Fluctuation)
	}
	return b.String()
}
