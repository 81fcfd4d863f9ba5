package machiavelli

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// SourceJSON is source/{game}.json as the reference's scraper writes it.
type SourceJSON struct {
	URL      string              `json:"url"`
	Scenes   map[string][][2]any `json:"scenes"`
	List     []string            `json:"scene_list"`
	Labels   map[string]int      `json:"label_to_linenum"`
	Metadata map[string]string   `json:"metadata"`
	KwVars   map[string]any      `json:"kw_vars"`
}

// TreeNode is one node of trees/{game}_game_tree.json.
type TreeNode struct {
	Scene        string   `json:"scene"`
	Name         string   `json:"name"`
	Start        int      `json:"start"`
	End          int      `json:"end"`
	Lines        []int    `json:"lines"`
	Type         string   `json:"type"`
	Children     []string `json:"children"`
	Parents      []string `json:"parents"`
	Achievements []string `json:"achievements"`
	Subs         []string `json:"subs"`
	Subroutine   bool     `json:"subroutine"`
	Root         bool     `json:"root"`
	hasEnd       bool
}

// Scrape turns ChoiceScript scene files (name -> text; "startup" required) into the
// reference's source JSON (machiavelli/data/scraper.py): stripped non-blank lines with their
// indentation, scene_list, label line numbers, title and author.
func Scrape(files map[string]string) (*SourceJSON, error) {
	s := &SourceJSON{Scenes: map[string][][2]any{}, List: []string{"startup"}, Labels: map[string]int{},
		Metadata: map[string]string{}, KwVars: map[string]any{}}
	var unused []string
	refs := map[string]string{} // scene -> where it was first named
	process := func(name string) error {
		text, ok := files[name]
		if !ok {
			if r, ok := refs[name]; ok {
				return fmt.Errorf("scene %s (named at %s): no file", name, r)
			}
			return fmt.Errorf("scene %s: no file", name)
		}
		var lines [][2]any
		for _, raw := range strings.Split(text, "\n") {
			l := strings.TrimLeftFunc(raw, unicode.IsSpace)
			if l == "" {
				continue
			}
			w := len([]rune(raw)) - len([]rune(l))
			lines = append(lines, [2]any{strings.ReplaceAll(strings.TrimSpace(raw), "\ufeff", ""), w})
		}
		for i := range lines {
			line := lines[i][0].(string)
			tmp := strings.ToLower(line)
			switch {
			case strings.HasPrefix(tmp, "*label"):
				s.Labels[strings.ToLower(name+"_"+strings.TrimSpace(strings.Replace(line, "*label", "", 1)))] = i
			case strings.HasPrefix(tmp, "*goto_scene") || strings.HasPrefix(tmp, "*gosub_scene"):
				f := strings.Split(line, " ")
				if len(f) < 2 {
					return fmt.Errorf("scene %s, line %d: %s without a scene", name, i, f[0])
				}
				sc := f[1]
				if _, ok := refs[sc]; !ok {
					refs[sc] = fmt.Sprintf("scene %s, line %d", name, i)
				}
				if _, done := s.Scenes[sc]; !done && !slices.Contains(unused, sc) && sc != name && !strings.Contains(sc, "{") {
					unused = append(unused, sc)
				}
			case strings.HasPrefix(tmp, "*title"):
				_, s.Metadata["title"], _ = strings.Cut(line, "*title ")
			case strings.HasPrefix(tmp, "*author"):
				_, s.Metadata["author"], _ = strings.Cut(line, "*author ")
			case strings.HasPrefix(tmp, "*scene_list"):
				unused = nil
				for j := i + 1; j < len(lines) && lines[j][1].(int) > lines[i][1].(int); j++ {
					e := lines[j][0].(string)
					if strings.HasPrefix(e, "$") {
						e = strings.Split(e, " ")[1]
					}
					if e != "startup" {
						unused = append(unused, e)
					}
					if _, ok := refs[e]; !ok {
						refs[e] = fmt.Sprintf("scene %s, line %d (*scene_list)", name, j)
					}
				}
				s.List = append(s.List, unused...)
			case strings.HasPrefix(tmp, "*elsif"):
				lines[i][0] = strings.Replace(line, "*elsif", "*elseif", -1)
			}
			if hasAnyPrefix(tmp, "*create", "*set", "*temp") && !strings.HasPrefix(tmp, "*set_checkpoint") {
				split := strings.Fields(lines[i][0].(string))
				if len(split) < 3 && !strings.HasPrefix(line, "*temp") {
					return fmt.Errorf("scene %s, line %d: %q needs a variable and a value", name, i, line)
				}
				if hasAnyPrefix(tmp, "*temp", "*set") {
					lines[i][0] = strings.Join(split, " ")
				}
			}
		}
		s.Scenes[strings.ToLower(name)] = lines
		return nil
	}
	if err := process("startup"); err != nil {
		return nil, err
	}
	for len(unused) > 0 {
		n := unused[0]
		unused = unused[1:]
		if err := process(n); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// BuildTree builds the node tree of a scraped game as the reference's game_tree.py
// build_tree does (without its title-specific target lists).
func BuildTree(src *SourceJSON) (map[string]*TreeNode, []string, error) {
	sceneList := make([]string, len(src.List))
	for i, n := range src.List {
		sceneList[i] = strings.ToLower(n)
	}
	last := src.List[len(src.List)-1]
	scenes := map[string][]srcLine{}
	for name, ls := range src.Scenes {
		out := make([]srcLine, 0, len(ls)+2)
		for _, l := range ls {
			t := l[0].(string)
			t = strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(t, "*selectable_if", "*if"), "*fake_choice", "*choice"), "*delay_ending", "*ending"))
			w := 0
			switch x := l[1].(type) {
			case int:
				w = x
			case float64:
				w = int(x)
			}
			out = append(out, srcLine{text: t, indent: w})
		}
		end := "*finish"
		if name == last {
			end = "*ending"
		}
		scenes[name] = append(out, srcLine{text: end}, srcLine{})
	}
	nodes := map[string]*TreeNode{}
	var order []string
	newNode := func(scene string, idx int, name string) *TreeNode {
		return &TreeNode{Scene: scene, Name: name, Start: idx, Lines: []int{idx}, Children: []string{}, Parents: []string{},
			Achievements: []string{}, Subs: []string{}}
	}
	setEnd := func(n *TreeNode, e int) {
		if !n.hasEnd {
			n.hasEnd = true
			n.End = e
			for i := n.Start + 1; i <= e; i++ {
				n.Lines = append(n.Lines, i)
			}
		}
	}
	makeChild := func(parent string, scene string, idx int, initLines []int) *TreeNode {
		p := nodes[parent]
		name := fmt.Sprintf("%s_%d", scene, idx)
		if parent == name {
			name += "_collapsed"
		}
		c, ok := nodes[name]
		if !ok {
			c = newNode(scene, idx, name)
		}
		if !slices.Contains(p.Children, name) {
			p.Children = append(p.Children, name)
		}
		if !slices.Contains(c.Parents, parent) {
			c.Parents = append(c.Parents, parent)
		}
		if initLines != nil {
			c.Lines = append(slices.Clone(initLines), c.Lines...)
		}
		return c
	}
	type job struct {
		scene string
		idx   int
		node  *TreeNode
	}
	root := newNode("startup", 0, "startup_0")
	root.Root = true
	stack := []job{{"startup", 0, root}}
	isChoiceT := func(ls []srcLine, idx int) bool {
		j := 0
		for idx+j < len(ls) && hasAnyPrefix(ls[idx+j].text, "*hide_reuse", "*disable_reuse", "*allow_reuse", "*if", "*else") {
			if strings.Contains(reBraceHash.ReplaceAllString(ls[idx+j].text, ""), "#") {
				return true
			}
			j++
		}
		return idx+j < len(ls) && strings.HasPrefix(ls[idx+j].text, "#")
	}
	incT := func(ls []srcLine, idx int) (int, bool, error) {
		if idx+1 >= len(ls) {
			return 0, false, fmt.Errorf("ran past the end")
		}
		if ls[idx+1].indent <= ls[idx].indent {
			j := 1
			for idx+j < len(ls) && (isChoiceT(ls, idx+j) || strings.HasPrefix(ls[idx+j].text, "*else")) {
				j += nestedLen(ls, idx+j)
			}
			if idx+j >= len(ls) {
				return 0, false, fmt.Errorf("ran past the end")
			}
			return j, ls[idx+j].indent < ls[idx].indent || strings.HasPrefix(ls[idx+j].text, "*label"), nil
		}
		return 1, strings.HasPrefix(ls[idx+1].text, "*label"), nil
	}
	label := func(scene, l string) (int, error) {
		i, ok := src.Labels[scene+"_"+l]
		if !ok {
			return 0, fmt.Errorf("scene %s: no label %s", scene, l)
		}
		return i, nil
	}
	keywords := []string{"*goto", "*finish", "*if", "*choice", "*return", "*ending", "*abort"}
	for len(stack) > 0 {
		jb := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		scene, idx, node := jb.scene, jb.idx, jb.node
		name := node.Name
		if _, ok := nodes[name]; ok {
			continue
		}
		nodes[name] = node
		order = append(order, name)
		ls, ok := scenes[scene]
		if !ok {
			return nil, nil, fmt.Errorf("no scene %s", scene)
		}
		i := 0
		line := ls[idx].text
		if strings.HasPrefix(line, "*label") && node.Start <= idx-1 {
			setEnd(node, idx-1)
			stack = append(stack, job{scene, idx, makeChild(name, scene, idx, nil)})
			continue
		}
		wherr := func(err error) error { return fmt.Errorf("scene %s, line %d: %w", scene, idx+i, err) }
		for !hasAnyPrefix(line, keywords...) {
			if strings.HasPrefix(line, "*gosub") {
				f := strings.Fields(line)
				sc, g := scene, 0
				if strings.HasPrefix(line, "*gosub_scene") {
					sc = f[1]
				} else {
					var err error
					if g, err = label(sc, f[1]); err != nil {
						return nil, nil, wherr(err)
					}
				}
				sub := newNode(sc, g, fmt.Sprintf("%s_%d", sc, g))
				sub.Root, sub.Subroutine = true, true
				stack = append(stack, job{sc, g, sub})
				node.Subs = append(node.Subs, sub.Name)
			}
			inc, newN, err := incT(ls, idx+i)
			if err != nil {
				return nil, nil, wherr(err)
			}
			if newN {
				setEnd(node, idx+i)
				stack = append(stack, job{scene, idx + i + inc, makeChild(name, scene, idx+i+inc, nil)})
				goto next
			}
			i += inc
			line = ls[idx+i].text
		}
		switch {
		case strings.HasPrefix(line, "*if"):
			setEnd(node, idx+i)
			idx += i
			n := conditionalLen(ls, idx)
			hasElse := false
			for k := 0; k < n; {
				cl := min(nestedLen(ls, idx), n-k)
				if ls[idx].text == "*else" {
					hasElse = true
				}
				c := makeChild(name, scene, idx, nil)
				stack = append(stack, job{scene, idx + 1, c})
				idx += cl
				k += cl
			}
			if !hasElse {
				idx--
				inc, _, err := incT(ls, idx)
				if err != nil {
					return nil, nil, wherr(err)
				}
				stack = append(stack, job{scene, idx + inc, makeChild(name, scene, idx+inc, nil)})
			}
		case strings.HasPrefix(line, "*choice"):
			setEnd(node, idx+i)
			idx += i
			end := idx + nestedLen(ls, idx)
			idx++
			var starts, gotos, noBody []int
			var inits [][]int
			for idx < end {
				gl := min(nestedLen(ls, idx), end-idx)
				group := ls[idx : idx+gl]
				if !strings.HasPrefix(group[0].text, "*comment") {
					locs := append(choicesInBody(group), gl)
					for j, l := range locs {
						if l == gl {
							continue
						}
						starts = append(starts, idx+l)
						init := []int{}
						for k := idx; k < idx+locs[0]; k++ {
							init = append(init, k)
						}
						inits = append(inits, init)
						if locs[j+1]-locs[j] == 1 {
							gotos = append(gotos, -1)
							noBody = append(noBody, idx+l)
						} else {
							gotos = append(gotos, idx+l+1)
							noBody = append(noBody, -1)
						}
					}
				}
				idx += gl
			}
			for k := range gotos {
				if gotos[k] < 0 {
					inc, _, err := incT(ls, idx-1)
					if err != nil {
						return nil, nil, wherr(err)
					}
					gotos[k] = idx - 1 + inc
				}
			}
			for k, st := range starts {
				c := makeChild(name, scene, st, inits[k])
				if noBody[k] >= 0 {
					setEnd(c, noBody[k])
					cn := fmt.Sprintf("%s_%d", scene, st)
					if _, ok := nodes[cn]; ok {
						continue
					}
					nodes[cn] = c
					order = append(order, cn)
					stack = append(stack, job{scene, gotos[k], makeChild(cn, scene, gotos[k], nil)})
				} else {
					stack = append(stack, job{scene, gotos[k], c})
				}
			}
		default:
			setEnd(node, idx+i)
			var sc []string
			var gos []int
			switch {
			case strings.HasPrefix(line, "*goto_random_scene"), strings.HasPrefix(line, "*gotoref"):
				return nil, nil, wherr(fmt.Errorf("%s is not supported by the tree builder", strings.Fields(line)[0]))
			case strings.HasPrefix(line, "*goto_scene"):
				p := splitIntoParams(line)
				g := 0
				if len(p) > 2 {
					var err error
					if g, err = label(p[1], p[2]); err != nil {
						return nil, nil, wherr(err)
					}
				}
				sc, gos = []string{p[1]}, []int{g}
			case strings.HasPrefix(line, "*goto"):
				f := strings.Fields(line)
				g, err := label(scene, f[1])
				if err != nil {
					return nil, nil, wherr(err)
				}
				sc, gos = []string{scene}, []int{g}
			case strings.HasPrefix(line, "*finish"):
				k := slices.Index(sceneList, scene) + 1
				if k <= 0 || k >= len(sceneList) {
					return nil, nil, wherr(fmt.Errorf("*finish in the last scene"))
				}
				sc, gos = []string{sceneList[k]}, []int{0}
			}
			for k := range sc {
				stack = append(stack, job{sc[k], gos[k], makeChild(name, sc[k], gos[k], nil)})
			}
		}
	next:
	}
	var markSub func(string)
	markSub = func(n string) {
		node := nodes[n]
		if node.Subroutine {
			return
		}
		node.Subroutine = true
		for _, c := range node.Children {
			markSub(c)
		}
	}
	for _, name := range order {
		node := nodes[name]
		ls := scenes[node.Scene]
		for _, i := range node.Lines {
			l := strings.TrimSpace(ls[i].text)
			if strings.HasPrefix(strings.ToLower(l), "*achieve ") {
				node.Achievements = append(node.Achievements, strings.Fields(l)[1])
			}
		}
		e := ls[node.End].text
		switch {
		case strings.HasPrefix(e, "*choice"):
			node.Type = "CHOICE"
		case strings.HasPrefix(e, "*if"):
			node.Type = "COND"
		default:
			node.Type = "OTHER"
		}
		if node.Subroutine {
			for _, c := range node.Children {
				markSub(c)
			}
		}
	}
	return nodes, order, nil
}

// choicesInBody is game_tree.py's choices_in_body.
func choicesInBody(ls []srcLine) []int {
	isOpt := func(l string) bool {
		return !strings.HasPrefix(l, "*comment") && strings.Contains(reBraceHash.ReplaceAllString(l, ""), "#")
	}
	var locs []int
	w := ls[0].indent
	j := 0
	for j < len(ls) && ls[j].indent >= w && hasAnyPrefix(ls[j].text, "*hide_reuse", "*disable_reuse", "*allow_reuse", "*if", "*else", "*comment") {
		if isOpt(ls[j].text) {
			break
		}
		j++
	}
	if j < len(ls) {
		w = ls[j].indent
		if isOpt(ls[j].text) {
			for j < len(ls) && ls[j].indent >= w {
				if ls[j].indent == w && isOpt(ls[j].text) {
					locs = append(locs, j)
				}
				j++
			}
		}
	}
	return locs
}
