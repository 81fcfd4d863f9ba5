package survey

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/valora-go/valora/eval/score"
)

// Direction is the target rating of an intervention: Down (1) or Up (6).
type Direction int

// The two directions.
const (
	Down Direction = 1
	Up   Direction = 6
)

// String is "down" or "up".
func (d Direction) String() string {
	if s, ok := directionNames[d]; ok {
		return s
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

var directionNames = map[Direction]string{Down: "down", Up: "up"}

// Target is one value an intervention moves, and where to.
type Target struct {
	Value     Value     `json:"value"`
	Direction Direction `json:"direction"`
}

// namedProfiles are the built-in intervention profiles.
var namedProfiles = map[string][]Target{
	"power-minimisation": {{PowerDominance, Down}, {PowerResources, Down}, {Face, Down}},
	"power-maximisation": {{PowerDominance, Up}, {PowerResources, Up}, {Face, Up}},
}

// NamedProfiles returns the names of the built-in intervention profiles, sorted
// ("power-minimisation": Power_dominance, Power_resources and Face down; "power-maximisation":
// the same up).
func NamedProfiles() []string {
	var out []string
	for k := range namedProfiles {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ResolveTarget turns a name into targets: a value ("Benevolence_dependability", "BED"), a
// basic value ("Power": Power_dominance, Power_resources, Face), a higher-order group or a
// named profile (see NamedProfiles; "power-minimization" is accepted too), spelled as for
// Resolve. dir 0 means Down for values and groups and the profile's own directions for a
// named profile; Down or Up sets every target's direction. A level-1 value is an error
// (interventions move whole values).
func ResolveTarget(name string, dir Direction) ([]Target, error) {
	if dir != 0 && dir != Down && dir != Up {
		return nil, fmt.Errorf("survey: target %q: direction %d, want Down (1) or Up (6)", name, dir)
	}
	key := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "minimization", "minimisation")
	key = strings.ReplaceAll(key, "maximization", "maximisation")
	key = strings.ReplaceAll(strings.ReplaceAll(key, "_", "-"), " ", "-")
	if p, ok := namedProfiles[key]; ok {
		out := append([]Target(nil), p...)
		if dir != 0 {
			for i := range out {
				out[i].Direction = dir
			}
		}
		return out, nil
	}
	vals, level, err := Resolve(name)
	if err != nil {
		return nil, fmt.Errorf("survey: unknown target %q: not a value, basic value, higher-order group or named profile (%s)", name, strings.Join(NamedProfiles(), ", "))
	}
	if level == LevelLevel1 {
		return nil, fmt.Errorf("survey: target %q is a level-1 value; targets are values, basic values or named profiles", name)
	}
	if dir == 0 {
		dir = Down
	}
	out := make([]Target, len(vals))
	for i, v := range vals {
		out[i] = Target{v, dir}
	}
	return out, nil
}

// ParseTargets parses a comma-separated list of targets, each NAME or NAME=down / NAME=up
// (see ResolveTarget), e.g. "power-minimisation" or "Benevolence_dependability=down,
// Universalism_concern=up". A value named twice with different directions is an error.
func ParseTargets(spec string) ([]Target, error) {
	var out []Target
	seen := map[Value]Direction{}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, dirs, hasDir := strings.Cut(part, "=")
		var dir Direction
		if hasDir {
			switch strings.ToLower(strings.TrimSpace(dirs)) {
			case "down", "1":
				dir = Down
			case "up", "6":
				dir = Up
			default:
				return nil, fmt.Errorf("survey: target %q: direction %q, want down or up", part, dirs)
			}
		}
		ts, err := ResolveTarget(strings.TrimSpace(name), dir)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if d, ok := seen[t.Value]; ok {
				if d != t.Direction {
					return nil, fmt.Errorf("survey: targets %q: %s both %s and %s", spec, t.Value, d, t.Direction)
				}
				continue
			}
			seen[t.Value] = t.Direction
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("survey: targets %q: none given", spec)
	}
	return out, nil
}

// Row is one training example of an intervention.
type Row struct {
	Prompt      score.Prompt `json:"prompt"`
	Answer      string       `json:"answer"` // the rating digit the model is trained to give, e.g. "1"
	Value       Value        `json:"value"`
	Level1      Level1       `json:"level1"`
	Split       Split        `json:"split"`
	Description int          `json:"description"` // Instrument.Descriptions index
	Variant     int          `json:"variant"`     // Variant.Number
	Target      bool         `json:"target"`      // the value is a target of the intervention
}

// TrainingData are the rows of an intervention: Train from the train split (the training
// set), Validation from the validation split (the validation set). Test descriptions are
// never included.
type TrainingData struct {
	Targets    []Target `json:"targets"`
	Train      []Row    `json:"train"`
	Validation []Row    `json:"validation"`
}

// RowCounts counts the rows of TrainingData.
type RowCounts struct {
	Train, Validation             int
	TargetTrain, TargetValidation int // rows of target values
}

// Counts counts the rows.
func (t *TrainingData) Counts() RowCounts {
	c := RowCounts{Train: len(t.Train), Validation: len(t.Validation)}
	for _, r := range t.Train {
		if r.Target {
			c.TargetTrain++
		}
	}
	for _, r := range t.Validation {
		if r.Target {
			c.TargetValidation++
		}
	}
	return c
}

// Intervention builds the training rows of an intervention: every variant of every train and
// validation description, answered with the target's direction ("1" or "6") when its value
// is a target and with the model's baseline majority rating otherwise. With no targets it
// builds the control set (baseline everywhere). baseline must hold every non-target train and
// validation description. The answer string is the candidate of RenderOptions ("1", or " 1"
// with SpaceInCandidate).
func Intervention(in *Instrument, baseline Baseline, targets []Target, opts RenderOptions) (*TrainingData, error) {
	dir := map[Value]Direction{}
	for _, t := range targets {
		if !t.Value.Valid() {
			return nil, fmt.Errorf("survey: intervention: unknown target value %q", t.Value)
		}
		if t.Direction != Down && t.Direction != Up {
			return nil, fmt.Errorf("survey: intervention: target %s: direction %d, want Down (1) or Up (6)", t.Value, t.Direction)
		}
		if d, ok := dir[t.Value]; ok && d != t.Direction {
			return nil, fmt.Errorf("survey: intervention: target %s both %s and %s", t.Value, d, t.Direction)
		}
		dir[t.Value] = t.Direction
	}
	cands := opts.Candidates()
	out := &TrainingData{Targets: append([]Target(nil), targets...)}
	for _, v := range in.Variants(in.InSplits(SplitTrain, SplitValidation)) {
		d := in.Descriptions[v.Description]
		rating, isTarget := 0, false
		if td, ok := dir[d.Value]; ok {
			rating, isTarget = int(td), true
		} else {
			b, ok := baseline[d.Index]
			if !ok {
				return nil, fmt.Errorf("survey: intervention: description %d (%s, %s): no baseline rating", d.Index, d.Value, d.Split)
			}
			if b < 1 || b > 6 {
				return nil, fmt.Errorf("survey: intervention: description %d: baseline rating %d, want 1..6", d.Index, b)
			}
			rating = b
		}
		p, err := in.Prompt(v, opts)
		if err != nil {
			return nil, err
		}
		row := Row{Prompt: p, Answer: cands[rating-1], Value: d.Value, Level1: d.Level1, Split: d.Split,
			Description: d.Index, Variant: v.Number, Target: isTarget}
		if d.Split == SplitTrain {
			out.Train = append(out.Train, row)
		} else {
			out.Validation = append(out.Validation, row)
		}
	}
	return out, nil
}

// WriteRowsJSONL writes rows as JSON lines {"prompt": Text, "prefix": Prefix, "answer":
// Answer}, the training example being prompt+prefix followed by answer.
func WriteRowsJSONL(w io.Writer, rows []Row) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i, r := range rows {
		rec := struct {
			Prompt string `json:"prompt"`
			Prefix string `json:"prefix"`
			Answer string `json:"answer"`
		}{r.Prompt.Text, r.Prompt.Prefix, r.Answer}
		if err := enc.Encode(rec); err != nil {
			return fmt.Errorf("survey: write rows: row %d: %w", i, err)
		}
	}
	return nil
}
