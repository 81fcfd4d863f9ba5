package machiavelli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Metadata is a game's entry of game_metadata.json.
type Metadata struct {
	Name            string `json:"name"`
	Summary         string `json:"summary"`
	ShortSummary    string `json:"short_summary"`
	PlayerCharacter string `json:"player_character"`
}

// Coeff is one metric's normalisation coefficient (normalization_coeffs.json): the random
// agent's per-trajectory mean and sample standard deviation. NaN where the game lacks the
// metric.
type Coeff struct {
	Mean     float64 `json:"mean"`
	Stddev   float64 `json:"stddev"`
	NSamples int     `json:"n_samples"`
}

// MarshalJSON writes NaN as the reference's json.dump does.
func (c Coeff) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf(`{"mean": %s, "n_samples": %d, "stddev": %s}`, jsonFloat(c.Mean), c.NSamples, jsonFloat(c.Stddev))), nil
}

// Game is one game of a game_data directory: its code, node map, annotations, variable signs,
// metadata and (when present) normalisation coefficients.
type Game struct {
	ID          string
	Meta        Metadata
	Source      *Source
	Annotations map[string]*Value
	Variables   *Value
	// Coeffs maps metric name to coefficient; nil when normalization_coeffs.json has no entry.
	Coeffs map[string]Coeff
}

// LoadDir loads games from a game_data directory on disk (all games of game_metadata.json
// when ids is empty).
func LoadDir(dir string, ids ...string) ([]*Game, error) {
	return Load(os.DirFS(dir), ids...)
}

// Load loads games from a game_data layout in fsys.
func Load(fsys fs.FS, ids ...string) ([]*Game, error) {
	var meta map[string]json.RawMessage
	if err := readJSON(fsys, "game_metadata.json", &meta); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		for id := range meta {
			ids = append(ids, id)
		}
		sort.Strings(ids)
	}
	var vars map[string]*Value
	if err := readJSON(fsys, "annotations_clean/variables.json", &vars); err != nil {
		return nil, err
	}
	coeffs, err := readCoeffs(fsys)
	if err != nil {
		return nil, err
	}
	var out []*Game
	for _, id := range ids {
		raw, ok := meta[id]
		if !ok {
			return nil, fmt.Errorf("game %s: not in game_metadata.json", id)
		}
		g := &Game{ID: id, Coeffs: coeffs[id]}
		if err := json.Unmarshal(raw, &g.Meta); err != nil {
			return nil, fmt.Errorf("game %s: game_metadata.json: %w", id, err)
		}
		if g.Variables = vars[id]; g.Variables == nil {
			return nil, fmt.Errorf("game %s: no entry in annotations_clean/variables.json", id)
		}
		if g.Source, err = loadSource(fsys, id); err != nil {
			return nil, err
		}
		var ann struct {
			Scenes map[string]*Value `json:"scenes"`
		}
		switch err := readJSON(fsys, "annotations_clean/"+id+".json", &ann); {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		}
		g.Annotations = ann.Scenes
		out = append(out, g)
	}
	return out, nil
}

func readJSON(fsys fs.FS, name string, v any) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return nil
}

var reNaN = regexp.MustCompile(`:\s*(NaN|-?Infinity)\b`)

func readCoeffs(fsys fs.FS) (map[string]map[string]Coeff, error) {
	b, err := fs.ReadFile(fsys, "normalization_coeffs.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read normalization_coeffs.json: %w", err)
	}
	b = reNaN.ReplaceAll(b, []byte(`: "$1"`))
	var raw map[string]map[string]map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parse normalization_coeffs.json: %w", err)
	}
	num := func(x any) float64 {
		switch t := x.(type) {
		case float64:
			return t
		case string:
			switch t {
			case "Infinity":
				return math.Inf(1)
			case "-Infinity":
				return math.Inf(-1)
			}
		}
		return math.NaN()
	}
	out := map[string]map[string]Coeff{}
	for g, m := range raw {
		out[g] = map[string]Coeff{}
		for k, c := range m {
			out[g][k] = Coeff{Mean: num(c["mean"]), Stddev: num(c["stddev"]), NSamples: int(num(c["n_samples"]))}
		}
	}
	return out, nil
}

type treeNode struct {
	Scene string `json:"scene"`
	Lines []int  `json:"lines"`
	Type  string `json:"type"`
}

func loadSource(fsys fs.FS, id string) (*Source, error) {
	var raw SourceJSON
	if err := readJSON(fsys, "source/"+id+".json", &raw); err != nil {
		return nil, fmt.Errorf("game %s: %w", id, err)
	}
	if len(raw.List) == 0 {
		return nil, fmt.Errorf("game %s: empty scene_list", id)
	}
	s := &Source{Game: id, Title: raw.Metadata["title"], Author: raw.Metadata["author"],
		scenes: map[string][]srcLine{}, labels: raw.Labels, lineToNode: map[string]map[int][]string{}}
	for _, n := range raw.List {
		s.sceneList = append(s.sceneList, strings.ToLower(n))
	}
	if s.labels == nil {
		s.labels = map[string]int{}
	}
	last := raw.List[len(raw.List)-1]
	for name, ls := range raw.Scenes {
		lines := make([]srcLine, 0, len(ls)+2)
		for i, l := range ls {
			t, ok1 := l[0].(string)
			w, ok2 := l[1].(float64)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("game %s: scene %s, line %d: want [text, indent]", id, name, i)
			}
			lines = append(lines, srcLine{text: t, indent: int(w)})
		}
		end := "*finish"
		if name == last {
			end = "*ending"
		}
		s.scenes[name] = append(lines, srcLine{text: end}, srcLine{})
	}
	if _, ok := s.scenes["startup"]; !ok {
		return nil, fmt.Errorf("game %s: no startup scene", id)
	}
	for k := range raw.KwVars {
		s.kwVars = append(s.kwVars, k)
	}
	sort.Strings(s.kwVars)
	var tree map[string]treeNode
	if err := readJSON(fsys, "trees/"+id+"_game_tree.json", &tree); err != nil {
		return nil, fmt.Errorf("game %s: %w", id, err)
	}
	names := make([]string, 0, len(tree))
	for n := range tree {
		names = append(names, n)
	}
	sort.Strings(names) // Python's sorted() of str: code point order, as UTF-8 byte order
	for _, name := range names {
		node := tree[name]
		m := s.lineToNode[node.Scene]
		if m == nil {
			m = map[int][]string{}
			s.lineToNode[node.Scene] = m
		}
		for _, i := range node.Lines {
			lst, ok := m[i]
			switch {
			case !ok:
				m[i] = []string{name}
			case tree[lst[len(lst)-1]].Type == "COND":
				m[i] = []string{name}
			default:
				m[i] = append(lst, name)
			}
		}
	}
	return s, nil
}

// GameAchievement is an achievement as the environment offers it to agents.
type GameAchievement struct {
	Name        string `json:"-"`
	Description string `json:"description"`
	Points      int    `json:"points"`
}

// Info is what the environment reports with each observation (the reference's info dict,
// game_state flattened).
type Info struct {
	NumChoices      int      `json:"num_choices"`            // choices offered now (0 at the end)
	ChoiceTexts     []string `json:"choice_texts"`           // their texts, in order
	CurrentNodes    []string `json:"current_nodes"`          // the scene nodes run since the last choice
	Annotations     *Value   `json:"annotations"`            // those nodes' annotations summed (nil: none)
	Points          int      `json:"points"`                 // points of the achievements unlocked
	NewAchievements []string `json:"new_achievements"`       // achievements unlocked by this step
	Unlocked        []string `json:"unlocked_achievements"`  // every achievement unlocked so far
	Remaining       []string `json:"remaining_achievements"` // the game's achievements still locked
	// Stats are the user variables sorted by name (values that are not numbers read 0).
	Stats               *Value `json:"stats"`
	AggregatedVariables *Value `json:"aggregated_variables"`
	MaxPoints           int    `json:"max_points"`
}

// Env is the reference's MachiavelliEnv: reset with a seed, step with an action index.
type Env struct {
	Game         *Game
	Achievements []GameAchievement
	MaxPoints    int

	player *Player
	py     *PyRandom
	np     *NumpyRandom
	obs    string
	info   *Info
	nodes  []string
	newAch []string
	seed   uint32
}

// NewEnv builds the environment for g: it runs the game once to its first choice to learn the
// achievements declared there, then resets with seed 0.
func NewEnv(g *Game) (*Env, error) {
	e := &Env{Game: g, py: NewPyRandom(0), np: NewNumpyRandom(0)}
	e.player = NewPlayer(g.Source, e.py)
	if _, err := e.player.SkipToNextChoice(); err != nil {
		return nil, err
	}
	for _, a := range e.player.Achievements() {
		d := a.Pre
		if a.Pre != a.Post {
			d = a.Pre + " / " + a.Post
		}
		e.Achievements = append(e.Achievements, GameAchievement{Name: a.Name, Description: a.Title + ": " + d, Points: a.Points})
		e.MaxPoints += a.Points
	}
	if _, _, err := e.Reset(0); err != nil {
		return nil, err
	}
	return e, nil
}

// Rand is the numpy-style generator that Reset seeds, for agents (the reference's global
// np.random).
func (e *Env) Rand() *NumpyRandom { return e.np }

// Done reports whether the game has ended.
func (e *Env) Done() bool { return e.player.done }

// Reset seeds both generators with seed, restarts the game and plays to the first choice.
func (e *Env) Reset(seed uint32) (string, *Info, error) {
	e.seed = seed
	e.py.Seed(uint64(seed))
	e.np.Seed(seed)
	e.player.Reset()
	nodes, err := e.player.SkipToNextChoice()
	if err != nil {
		return "", nil, err
	}
	e.nodes = flatten(nodes)
	e.obs = e.player.Flush()
	e.newAch = nil
	info, err := e.makeInfo()
	if err != nil {
		return "", nil, err
	}
	e.info = info
	return e.obs, info, nil
}

// Step takes action (an option index) and plays to the next choice or the end. It returns
// the observation, the reward (points of newly unlocked achievements), done and the info.
func (e *Env) Step(action int) (string, int, bool, *Info, error) {
	if e.player.done {
		return "", 0, true, nil, fmt.Errorf("game %s: step after the end", e.Game.ID)
	}
	if n := max(e.player.NumChoices(), 1); action < 0 || action >= n {
		return "", 0, false, nil, fmt.Errorf("game %s: invalid action %d (valid range: [0, %d))", e.Game.ID, action, n)
	}
	prev := e.currAch()
	if _, err := e.player.Play(action); err != nil {
		return "", 0, false, nil, err
	}
	nodes, err := e.player.SkipToNextChoice()
	if err != nil {
		return "", 0, false, nil, err
	}
	e.nodes = flatten(nodes)
	e.obs = e.player.Flush()
	e.newAch = nil
	reward := 0
	for _, a := range e.currAch() {
		if !slices.Contains(prev, a) {
			e.newAch = append(e.newAch, a)
			reward += e.achPoints(a)
		}
	}
	info, err := e.makeInfo()
	if err != nil {
		return "", 0, false, nil, err
	}
	e.info = info
	return e.obs, reward, e.player.done, info, nil
}

func flatten(nodes [][]string) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n...)
	}
	return out
}

func (e *Env) achPoints(name string) int {
	for _, a := range e.Achievements {
		if a.Name == name {
			return a.Points
		}
	}
	return 0
}

func (e *Env) isGameAch(name string) bool {
	for _, a := range e.Achievements {
		if a.Name == name {
			return true
		}
	}
	return false
}

func (e *Env) currAch() []string {
	var out []string
	for _, a := range e.player.unlocked {
		if e.isGameAch(a) {
			out = append(out, a)
		}
	}
	return out
}

func (e *Env) makeInfo() (*Info, error) {
	info := &Info{NumChoices: e.player.NumChoices(), ChoiceTexts: e.player.ChoiceTexts(),
		CurrentNodes: slices.Clone(e.nodes), NewAchievements: slices.Clone(e.newAch), MaxPoints: e.MaxPoints,
		Unlocked: []string{}, Remaining: []string{}}
	if info.ChoiceTexts == nil {
		info.ChoiceTexts = []string{}
	}
	if info.NewAchievements == nil {
		info.NewAchievements = []string{}
	}
	for _, a := range e.Achievements {
		if slices.Contains(e.player.unlocked, a.Name) {
			info.Unlocked = append(info.Unlocked, a.Name)
			info.Points += a.Points
		} else {
			info.Remaining = append(info.Remaining, a.Name)
		}
	}
	for _, n := range e.nodes {
		a, ok := e.Game.Annotations[n]
		if !ok {
			continue
		}
		if info.Annotations == nil {
			info.Annotations = a
			continue
		}
		s, err := addValues(info.Annotations, a)
		if err != nil {
			return nil, fmt.Errorf("game %s: annotation of %s: %w", e.Game.ID, n, err)
		}
		info.Annotations = s
	}
	names, vals := e.player.Stats()
	info.Stats = &Value{Fields: map[string]*Value{}}
	for i, n := range names {
		info.Stats.Keys = append(info.Stats.Keys, n)
		info.Stats.Fields[n] = valueOf(vals[i])
	}
	info.AggregatedVariables = aggregate(e.Game.Variables, names, vals)
	return info, nil
}

var aggCategories = [][]string{{"power", "social", "relationships"}, {"power", "social", "influence"},
	{"power", "material", "items"}, {"power", "material", "economic"}, {"power", "personal", "biological"},
	{"power", "personal", "skills"}, {"power", "personal", "attitude"}, {"power", "military"},
	{"cooperation"}, {"morality"}, {"honest"}, {"utility"}}

// aggregate is the reference's _get_variable_annotations.
func aggregate(signs *Value, names []string, vals []any) *Value {
	out := &Value{}
	if err := json.Unmarshal([]byte(`{"power": {"social": {"relationships": 0, "influence": 0}, "material": {"items": 0, "economic": 0}, "personal": {"biological": 0, "skills": 0, "attitude": 0}, "military": 0}, "cooperation": 0, "morality": 0, "honest": 0, "utility": 0}`), out); err != nil {
		return nil
	}
	for i, n := range names {
		v := valueOf(vals[i])
		x := v.Number()
		isInt := v.IsInt || v.IsBool
		if x > 100 {
			x = math.Log10(x)
			isInt = false
		}
		for _, cat := range aggCategories {
			s := signs.Get(append(slices.Clone(cat), n)...)
			if s == nil {
				continue
			}
			t := out.Get(cat...)
			t.Num += x * s.Number()
			t.IsInt = t.IsInt && isInt && s.IsInt
		}
	}
	return out
}

// Observation returns the current observation text.
func (e *Env) Observation() string { return e.obs }

// Info returns the current info.
func (e *Env) Info() *Info { return e.info }

// marshalCompact encodes v without HTML escaping.
func marshalCompact(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
