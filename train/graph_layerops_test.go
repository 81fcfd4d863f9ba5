package train

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLayerOpKindsHaveBothWalkers checks that every model.OpKind constant is a case of the
// switch in the inference pass (model/forward.go) and in the training graph (graph.go): a kind
// of operation added to model/decoder.go fails here until both handle it, instead of being
// skipped silently at inference.
func TestLayerOpKindsHaveBothWalkers(t *testing.T) {
	fset := token.NewFileSet()
	parse := func(path string) *ast.File {
		f, err := parser.ParseFile(fset, path, nil, 0)
		require.NoError(t, err)
		return f
	}
	var kinds []string
	for _, d := range parse("../model/decoder.go").Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
			for _, s := range g.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "Op") {
						kinds = append(kinds, n.Name)
					}
				}
			}
		}
	}
	require.Contains(t, kinds, "OpNorm")
	require.Contains(t, kinds, "OpSwiGLU")
	for _, path := range []string{"../model/forward.go", "graph.go"} {
		var cases []string
		ast.Inspect(parse(path), func(n ast.Node) bool {
			if cc, ok := n.(*ast.CaseClause); ok {
				for _, e := range cc.List {
					switch e := e.(type) {
					case *ast.Ident:
						cases = append(cases, e.Name)
					case *ast.SelectorExpr:
						cases = append(cases, e.Sel.Name)
					}
				}
			}
			return true
		})
		for _, s := range kinds {
			require.True(t, slices.Contains(cases, s), "%s: no case for model.%s", path, s)
		}
	}
}
