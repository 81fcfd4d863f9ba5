package survey

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed instrument/builtin.json
var builtinJSON []byte

// Builtin returns the instrument embedded in this package (instrument/builtin.json, our own
// JSON format): 594 descriptions written for valora, 11 per level-1 value, split 7 train /
// 2 validation / 2 test per level-1 value in file order; 3 task prompts and 9 response
// templates. Each call returns a fresh copy.
func Builtin() (*Instrument, error) {
	return ReadJSON(bytes.NewReader(builtinJSON), "builtin")
}

// LoadFile reads an instrument file, choosing the format by content: a file ending in
// ".jsonl" is our JSONL format; a JSON object with the keys "train", "eval" or "test" is the
// authors' format (kvs_data_new.json); any other JSON object is our JSON format.
func LoadFile(path string) (*Instrument, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("survey: load %s: %w", path, err)
	}
	name := filepath.Base(path)
	if strings.HasSuffix(strings.ToLower(path), ".jsonl") {
		return ReadJSONL(bytes.NewReader(data), name)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("survey: load %s: not a JSON object: %w", path, err)
	}
	_, tr := keys["train"]
	_, ev := keys["eval"]
	_, te := keys["test"]
	if tr || ev || te {
		return ReadAuthors(bytes.NewReader(data), name)
	}
	return ReadJSON(bytes.NewReader(data), name)
}

// authorsItem is one item of the authors' file.
type authorsItem struct {
	Sentence         *string  `json:"sentence"`
	NegativeSentence string   `json:"negative_sentence"`
	Category         string   `json:"category"`
	Level1           []string `json:"level1"`
	Level2           []string `json:"level2"`
	Level3           []string `json:"level3"`
	Level4           []string `json:"level4"`
}

type authorsFile struct {
	Tasks            []string      `json:"tasks"`
	ResponseTemplate []string      `json:"response_template"`
	Train            []authorsItem `json:"train"`
	Eval             []authorsItem `json:"eval"`
	Test             []authorsItem `json:"test"`
}

// ReadAuthors reads the authors' instrument format (kvs_data_new.json): an object with
// "tasks" and "response_template" lists and the item lists "train", "eval" (our validation
// split) and "test". Items need sentence, level1 and level2 (one entry each); category and
// level3, when present, must agree with the taxonomy; level4 and negative_sentence are not
// checked (negative_sentence is kept in Description.Negative). name is used in errors.
// Descriptions come in the order train, eval, test, each in file order.
func ReadAuthors(r io.Reader, name string) (*Instrument, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f authorsFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("survey: read %s (authors' format): %w", name, err)
	}
	in := &Instrument{Name: name, Tasks: f.Tasks, Templates: f.ResponseTemplate}
	if len(f.Tasks) == 0 {
		return nil, fmt.Errorf("survey: read %s: field tasks: missing or empty", name)
	}
	if len(f.ResponseTemplate) == 0 {
		return nil, fmt.Errorf("survey: read %s: field response_template: missing or empty", name)
	}
	for i, t := range f.ResponseTemplate {
		if err := checkTemplate(t); err != nil {
			return nil, fmt.Errorf("survey: read %s: response_template %d: %w", name, i, err)
		}
	}
	parts := []struct {
		key   string
		split Split
		items []authorsItem
	}{{"train", SplitTrain, f.Train}, {"eval", SplitValidation, f.Eval}, {"test", SplitTest, f.Test}}
	for _, p := range parts {
		for i, it := range p.items {
			d, err := authorsDescription(it, p.split)
			if err != nil {
				return nil, fmt.Errorf("survey: read %s: item %s[%d]: %w", name, p.key, i, err)
			}
			d.Index = len(in.Descriptions)
			in.Descriptions = append(in.Descriptions, d)
		}
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return in, nil
}

func authorsDescription(it authorsItem, split Split) (Description, error) {
	if it.Sentence == nil || strings.TrimSpace(*it.Sentence) == "" {
		return Description{}, fmt.Errorf("field sentence: missing")
	}
	if len(it.Level1) != 1 {
		return Description{}, fmt.Errorf("field level1: %d entries, want 1", len(it.Level1))
	}
	if len(it.Level2) != 1 {
		return Description{}, fmt.Errorf("field level2: %d entries, want 1", len(it.Level2))
	}
	l1 := Level1(it.Level1[0])
	if !l1.Valid() {
		return Description{}, fmt.Errorf("field level1: unknown level-1 value %q", it.Level1[0])
	}
	v := Value(it.Level2[0])
	info, ok := v.Info()
	if !ok {
		return Description{}, fmt.Errorf("field level2: unknown value %q", it.Level2[0])
	}
	if l1.Value() != v {
		return Description{}, fmt.Errorf("field level2: %q, but level1 %q belongs to %q", v, l1, l1.Value())
	}
	if it.Category != "" && it.Category != info.Code {
		return Description{}, fmt.Errorf("field category: %q, want %q for %s", it.Category, info.Code, v)
	}
	if it.Level3 != nil {
		got := append([]string(nil), it.Level3...)
		sort.Strings(got)
		var want []string
		for _, h := range info.HigherOrder {
			want = append(want, string(h))
		}
		sort.Strings(want)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			return Description{}, fmt.Errorf("field level3: %q, want %q for %s", it.Level3, want, v)
		}
	}
	return Description{Text: *it.Sentence, Negative: it.NegativeSentence, Level1: l1, Value: v, Split: split}, nil
}

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
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f ownFile
	if err := dec.Decode(&f); err != nil {
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
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
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
