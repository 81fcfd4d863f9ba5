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
