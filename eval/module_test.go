package eval

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Only the programs that draw charts, and package survey/chart that draws them, link the
// plotting library: a program that only scores (eval/score, examples/score) or trains links
// none of it.
func TestOnlyProgramsThatDrawLinkPlot(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH")
	}
	const mod = "github.com/valora-go/valora"
	out, err := exec.Command(gobin, "list", "-e", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", mod+"/...").Output()
	require.NoError(t, err, "go list")
	draws := map[string]bool{mod + "/survey/chart": true, mod + "/examples/align": true,
		mod + "/examples/evaluate": true, mod + "/examples/survey": true}
	seen := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg, plot := fields[0], ""
		for _, d := range fields[1:] {
			if d == "gonum.org/v1/plot" || strings.HasPrefix(d, "gonum.org/v1/plot/") {
				plot = d
				break
			}
		}
		seen[pkg] = true
		if draws[pkg] {
			require.NotEmpty(t, plot, "%s draws charts but links no gonum.org/v1/plot", pkg)
		} else {
			require.Empty(t, plot, "%s links %s; only survey/chart and the programs that draw may", pkg, plot)
		}
	}
	for _, p := range []string{"eval", "eval/score", "eval/machiavelli", "survey/chart", "survey", "model", "tokenize", "lora", "train", "examples/score"} {
		require.True(t, seen[mod+"/"+p], "go list did not list %s", p)
	}
}

// The scorer core (eval/score) stands below the benchmarks: it imports no evaluation package,
// and survey builds on it without linking the benchmarks of eval.
func TestScorerCoreLayering(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH")
	}
	const mod = "github.com/valora-go/valora"
	forbidden := map[string][]string{
		"eval/score": {"eval", "eval/machiavelli", "survey", "survey/chart", "train"},
		"survey":     {"eval", "eval/machiavelli", "survey/chart"},
	}
	for pkg, not := range forbidden {
		out, err := exec.Command(gobin, "list", "-e", "-f", "{{range .Deps}}{{.}}\n{{end}}", mod+"/"+pkg).Output()
		require.NoError(t, err, "go list %s", pkg)
		deps := map[string]bool{}
		for line := range strings.Lines(string(out)) {
			deps[strings.TrimSpace(line)] = true
		}
		require.True(t, deps[mod+"/model"], "go list %s: no dependency on model", pkg)
		for _, n := range not {
			require.False(t, deps[mod+"/"+n], "%s depends on %s", pkg, n)
		}
	}
}

// outside matches references to files outside the module: the workspace's shared data and
// documents beside the repository, and sections of its protocol document.
var outside = regexp.MustCompile(`\.\./shared|shared/(docs|data)|docs/protocol\.md|protocol(\.md)? sections? [0-9]`)

// The documentation of the library packages (doc comments and every comment of their non-test
// Go files, and their README files) does not point at files outside the module, which a
// reader of the module does not have. Programs under examples/ may default to such paths.
func TestDocsStayInModule(t *testing.T) {
	var checked int
	for _, dir := range []string{"model", "lora", "train", "eval", "survey", "tokenize", "internal"} {
		root := filepath.Join("..", dir)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			name := d.Name()
			switch {
			case strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go"):
				f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments|parser.SkipObjectResolution)
				if err != nil {
					return err
				}
				for _, c := range f.Comments {
					if m := outside.FindString(c.Text()); m != "" {
						t.Errorf("%s: a comment points outside the module (%q): %s", path, m, firstLine(c.Text(), m))
					}
				}
			case strings.HasSuffix(name, ".md"):
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				if m := outside.FindString(string(data)); m != "" {
					t.Errorf("%s points outside the module (%q): %s", path, m, firstLine(string(data), m))
				}
			default:
				return nil
			}
			checked++
			return nil
		})
		require.NoError(t, err)
	}
	require.Greater(t, checked, 50, "files checked")
}

// firstLine returns the line of text that holds m.
func firstLine(text, m string) string {
	for line := range strings.Lines(text) {
		if strings.Contains(line, m) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
