// Our own instrument formats, JSON and JSONL.

package survey

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ownDescription is a description in our own formats.
type ownDescription struct {
	Text   *string `json:"text"`
	Level1 string  `json:"level1"`
	Value  string  `json:"value,omitempty"`
	Split  string  `json:"split,omitempty"`
}

type ownFile struct {
	Name         string           `json:"name,omitempty"`
	Tasks        []string         `json:"tasks"`
	Templates    []string         `json:"templates"`
	Descriptions []ownDescription `json:"descriptions"`
}

// ReadJSON reads our own JSON format:
//
//	{
//	  "name": "my-survey",                        (optional)
//	  "tasks": ["Rate how ... 1 = ... 6 = ..."],
//	  "templates": ["Rating: {rating}", ...],     (each with {rating} exactly once)
//	  "descriptions": [
//	    {"text": "...", "level1": "Be creative", "value": "Self_direction_thought", "split": "train"},
//	    ...
//	  ]
//	}
//
// "value" is optional (it follows from "level1"; when given it must agree). "split" is
// optional: when all descriptions of a level-1 value leave it out, they are split in file
// order, the first ones train, then validation, then test, with round(2n/11) each for
// validation and test (11 -> 7/2/2); giving it for some but not all is an error. name is used
// in errors (the "name" field, if set, names the instrument).
func ReadJSON(r io.Reader, name string) (*Instrument, error) {
	var f ownFile
	if err := decodeStrict(r, &f); err != nil {
		return nil, fmt.Errorf("survey: read %s: %w", name, err)
	}
	return fromOwn(name, f.Name, f.Tasks, f.Templates, f.Descriptions, func(i int) string { return fmt.Sprintf("description %d", i) })
}

// MaxJSONLine is the longest line ReadJSONL accepts (16 MiB).
const MaxJSONLine = 16 << 20

// ReadJSONL reads our own JSONL format: one JSON object a line, each exactly one of
//
//	{"task": "Rate how ..."}
//	{"template": "Rating: {rating}"}
//	{"text": "...", "level1": "Be creative", "value": "...", "split": "train"}
//
// with the description fields as in ReadJSON. Blank lines are skipped. Errors name the line.
func ReadJSONL(r io.Reader, name string) (*Instrument, error) {
	var tasks, templates []string
	var descs []ownDescription
	var lines []int
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), MaxJSONLine)
	ln := 0
	for sc.Scan() {
		ln++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec struct {
			Task     *string `json:"task"`
			Template *string `json:"template"`
			ownDescription
		}
		if err := decodeStrict(bytes.NewReader(line), &rec); err != nil {
			return nil, fmt.Errorf("survey: read %s: line %d: %w", name, ln, err)
		}
		kinds := 0
		for _, b := range []bool{rec.Task != nil, rec.Template != nil, rec.Text != nil || rec.Level1 != ""} {
			if b {
				kinds++
			}
		}
		if kinds != 1 {
			return nil, fmt.Errorf("survey: read %s: line %d: want exactly one of task, template or a description (text, level1)", name, ln)
		}
		switch {
		case rec.Task != nil:
			tasks = append(tasks, *rec.Task)
		case rec.Template != nil:
			templates = append(templates, *rec.Template)
		default:
			descs = append(descs, rec.ownDescription)
			lines = append(lines, ln)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("survey: read %s: line %d: longer than the limit of %d bytes a line (MaxJSONLine): %w", name, ln+1, MaxJSONLine, err)
		}
		return nil, fmt.Errorf("survey: read %s: line %d: %w", name, ln+1, err)
	}
	return fromOwn(name, "", tasks, templates, descs, func(i int) string { return fmt.Sprintf("line %d (description %d)", lines[i], i) })
}

func fromOwn(file, name string, tasks, templates []string, descs []ownDescription, label func(int) string) (*Instrument, error) {
	in := &Instrument{Name: name, Tasks: tasks, Templates: templates}
	if in.Name == "" {
		in.Name = file
	}
	for i, t := range templates {
		if err := checkTemplate(t); err != nil {
			return nil, fmt.Errorf("survey: read %s: template %d: %w", file, i, err)
		}
	}
	for i, od := range descs {
		if od.Text == nil || strings.TrimSpace(*od.Text) == "" {
			return nil, fmt.Errorf("survey: read %s: %s: field text: missing description sentence", file, label(i))
		}
		l1 := Level1(od.Level1)
		if !l1.Valid() {
			return nil, fmt.Errorf("survey: read %s: %s: field level1: unknown level-1 value %q", file, label(i), od.Level1)
		}
		d := Description{Index: i, Text: *od.Text, Level1: l1, Value: l1.Value(), Split: Split(od.Split)}
		if od.Value != "" && Value(od.Value) != d.Value {
			if !Value(od.Value).Valid() {
				return nil, fmt.Errorf("survey: read %s: %s: field value: unknown value %q", file, label(i), od.Value)
			}
			return nil, fmt.Errorf("survey: read %s: %s: field value: %q, but level1 %q belongs to %q", file, label(i), od.Value, l1, d.Value)
		}
		if d.Split != "" && !d.Split.Valid() {
			return nil, fmt.Errorf("survey: read %s: %s: field split: unknown split %q (want train, validation or test)", file, label(i), od.Split)
		}
		in.Descriptions = append(in.Descriptions, d)
	}
	if err := assignSplits(file, in.Descriptions); err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return in, nil
}

// WriteJSON writes the instrument in our own JSON format (see ReadJSON), with every split
// given explicitly, so that ReadJSON reads back the same instrument.
func (in *Instrument) WriteJSON(w io.Writer) error {
	f := ownFile{Name: in.Name, Tasks: in.Tasks, Templates: in.Templates}
	for _, d := range in.Descriptions {
		t := d.Text
		f.Descriptions = append(f.Descriptions, ownDescription{Text: &t, Level1: string(d.Level1), Value: string(d.Value), Split: string(d.Split)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(f)
}
