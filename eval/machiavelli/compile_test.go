package machiavelli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readScenes(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(e.Name(), ".txt")] = string(b)
	}
	return files
}

func TestCompileMatchesReference(t *testing.T) {
	for _, game := range []string{"gull-rock", "crow-council"} {
		t.Run(game, func(t *testing.T) {
			src, err := Scrape(readScenes(t, filepath.Join("testdata", "authoring", game, "scenes")))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(src)
			want, err := os.ReadFile(filepath.Join("testdata", "game_data", "source", game+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(want, got) {
				t.Errorf("source differs\nwant %s\ngot  %s", want, got)
			}
			tree, _, err := BuildTree(src)
			if err != nil {
				t.Fatal(err)
			}
			got, _ = json.Marshal(tree)
			want, err = os.ReadFile(filepath.Join("testdata", "game_data", "trees", game+"_game_tree.json"))
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(want, got) {
				t.Errorf("tree differs\nwant %s\ngot  %s", want, got)
			}
		})
	}
}

// TestCompileBadSources checks that the compiler's errors name the scene and line at fault.
func TestCompileBadSources(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"goto_scene to a missing scene", map[string]string{"startup": "A.\n*goto_scene nowhere"},
			"scene nowhere (named at scene startup, line 1): no file"},
		{"scene_list entry without a file", map[string]string{"startup": "*scene_list\n  startup\n  gone\nA."},
			"scene gone (named at scene startup, line 2 (*scene_list)): no file"},
		{"set without a value", map[string]string{"startup": "A.\n*set x"},
			"scene startup, line 1: \"*set x\" needs a variable and a value"},
		{"goto a missing label", map[string]string{"startup": "A.\n*goto nowhere"},
			"scene startup, line 1: scene startup: no label nowhere"},
		{"gosub a missing label", map[string]string{"startup": "A.\n*gosub nowhere\nB."},
			"scene startup, line 1: scene startup: no label nowhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := Scrape(tt.files)
			if err == nil {
				_, _, err = BuildTree(src)
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
