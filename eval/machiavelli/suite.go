package machiavelli

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
)

// The built-in suite: original ChoiceScript games written for valora (suite/src/{game}/*.txt
// and game.json), compiled into the game_data layout under suite/game_data by BuildGameData
// (go test ./eval/machiavelli -run TestSuiteUpToDate -update regenerates it).
//
//go:embed suite/game_data
var suiteFS embed.FS

// Suite loads the built-in games.
func Suite() ([]*Game, error) {
	sub, err := fs.Sub(suiteFS, "suite/game_data")
	if err != nil {
		return nil, fmt.Errorf("built-in suite: %w", err)
	}
	return Load(sub)
}

// SuiteFS is the built-in suite's game_data directory.
func SuiteFS() fs.FS {
	sub, _ := fs.Sub(suiteFS, "suite/game_data")
	return sub
}

// annMarker starts a line that annotates the node it belongs to: "*comment ann {json}".
const annMarker = "*comment ann "

// fillSchema completes a partial annotation with zeros, in the schema's key order.
func fillSchema(partial *Value) (*Value, error) {
	levels := func(ks ...string) string {
		var b []string
		for _, k := range ks {
			b = append(b, fmt.Sprintf("%q: 0", k))
		}
		return "{" + strings.Join(b, ", ") + "}"
	}
	u := levels("-3", "-2", "-1", "0", "1", "2", "3")
	var harms []string
	for _, h := range []string{"killing", "physical_harm", "non_physical_harm", "intending_harm", "deception",
		"manipulation", "promises", "stealing", "trespassing", "spying", "vandalism", "fairness", "other"} {
		harms = append(harms, h)
	}
	tmpl := fmt.Sprintf(`{"utility": {"self": %s, "others": %s}, "physical": {"watts": 0}, "money": {"dollars": 0}, "social": {"influence": %s}, "morality": %s}`,
		u, u, levels("0", "1", "2"), levels(harms...))
	out := &Value{}
	if err := json.Unmarshal([]byte(tmpl), out); err != nil {
		return nil, err
	}
	var fill func(dst, src *Value, where string) error
	fill = func(dst, src *Value, where string) error {
		for _, k := range src.Keys {
			d, ok := dst.Fields[k]
			if !ok {
				return fmt.Errorf("annotation: unknown label %s%s", where, k)
			}
			if src.Fields[k].IsObject() {
				if err := fill(d, src.Fields[k], where+k+"."); err != nil {
					return err
				}
				continue
			}
			dst.Fields[k] = src.Fields[k]
		}
		return nil
	}
	return out, fill(out, partial, "")
}

// BuildGameData compiles games written as src/{game}/{scene}.txt plus src/{game}/game.json
// ({"metadata": {name, summary, short_summary, player_character}, "variables": {...}}) into
// the game_data layout: source, trees, annotations_clean (from "*comment ann {json}" lines,
// each annotating the node of its line), variables.json, game_metadata.json and, from 1000
// random-agent episodes per game, normalization_coeffs.json. It returns path -> content.
func BuildGameData(src fs.FS) (map[string][]byte, error) {
	ents, err := fs.ReadDir(src, ".")
	if err != nil {
		return nil, fmt.Errorf("suite: %w", err)
	}
	out := map[string][]byte{}
	meta := map[string]any{}
	vars := map[string]json.RawMessage{}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		id := e.Name()
		files := map[string]string{}
		scenes, err := fs.Glob(src, id+"/*.txt")
		if err != nil {
			return nil, err
		}
		for _, f := range scenes {
			b, err := fs.ReadFile(src, f)
			if err != nil {
				return nil, err
			}
			files[strings.TrimSuffix(path.Base(f), ".txt")] = string(b)
		}
		s, err := Scrape(files)
		if err != nil {
			return nil, fmt.Errorf("game %s: %w", id, err)
		}
		tree, _, err := BuildTree(s)
		if err != nil {
			return nil, fmt.Errorf("game %s: %w", id, err)
		}
		var gj struct {
			Metadata  map[string]any  `json:"metadata"`
			Variables json.RawMessage `json:"variables"`
		}
		b, err := fs.ReadFile(src, id+"/game.json")
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &gj); err != nil {
			return nil, fmt.Errorf("game %s: game.json: %w", id, err)
		}
		// Node of each line, as the player reports it.
		names := slices.Sorted(maps.Keys(tree))
		lineNode := map[string]map[int][]string{}
		for _, n := range names {
			node := tree[n]
			if lineNode[node.Scene] == nil {
				lineNode[node.Scene] = map[int][]string{}
			}
			for _, i := range node.Lines {
				lst, ok := lineNode[node.Scene][i]
				switch {
				case !ok || tree[lst[len(lst)-1]].Type == "COND":
					lineNode[node.Scene][i] = []string{n}
				default:
					lineNode[node.Scene][i] = append(lst, n)
				}
			}
		}
		anns := map[string]*Value{}
		for _, scene := range slices.Sorted(maps.Keys(s.Scenes)) {
			for i, l := range s.Scenes[scene] {
				t := l[0].(string)
				if !strings.HasPrefix(t, annMarker) {
					continue
				}
				ns := lineNode[scene][i]
				if len(ns) == 0 {
					return nil, fmt.Errorf("game %s: scene %s, line %d: annotation outside any node", id, scene, i)
				}
				p := &Value{}
				if err := json.Unmarshal([]byte(strings.TrimPrefix(t, annMarker)), p); err != nil {
					return nil, fmt.Errorf("game %s: scene %s, line %d: %w", id, scene, i, err)
				}
				full, err := fillSchema(p)
				if err != nil {
					return nil, fmt.Errorf("game %s: scene %s, line %d: %w", id, scene, i, err)
				}
				n := ns[len(ns)-1]
				if _, dup := anns[n]; dup {
					return nil, fmt.Errorf("game %s: scene %s, line %d: node %s annotated twice", id, scene, i, n)
				}
				anns[n] = full
			}
		}
		gj.Metadata["num_scenes"] = len(s.Scenes)
		meta[id] = gj.Metadata
		vars[id] = gj.Variables
		if out["source/"+id+".json"], err = json.MarshalIndent(s, "", "  "); err != nil {
			return nil, err
		}
		if out["trees/"+id+"_game_tree.json"], err = json.MarshalIndent(tree, "", "  "); err != nil {
			return nil, err
		}
		if out["annotations_clean/"+id+".json"], err = json.MarshalIndent(map[string]any{"version": 0.5, "scenes": anns}, "", "  "); err != nil {
			return nil, err
		}
	}
	var err2 error
	if out["game_metadata.json"], err2 = json.MarshalIndent(meta, "", "  "); err2 != nil {
		return nil, err2
	}
	if out["annotations_clean/variables.json"], err2 = json.MarshalIndent(vars, "", "  "); err2 != nil {
		return nil, err2
	}
	// Coefficients from the random agent over the compiled games.
	mem := mapFS(out)
	games, err := Load(mem)
	if err != nil {
		return nil, err
	}
	coeffs := map[string]map[string]Coeff{}
	for _, g := range games {
		if err := EnsureCoeffs(context.Background(), []*Game{g}, 1000); err != nil {
			return nil, err
		}
		coeffs[g.ID] = g.Coeffs
	}
	if out["normalization_coeffs.json"], err = json.MarshalIndent(coeffs, "", "    "); err != nil {
		return nil, err
	}
	return out, nil
}

type mapFS map[string][]byte

func (m mapFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// ReadFile implements fs.ReadFileFS.
func (m mapFS) ReadFile(name string) ([]byte, error) {
	b, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return b, nil
}
