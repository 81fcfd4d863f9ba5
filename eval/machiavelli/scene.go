// The scene interpreter: how the Player walks a scene's lines, executes commands and
// stops at text or choices (machiavelli/game/player.py's get_state and its helpers).

package machiavelli

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func nestedLen(ls []srcLine, i int) int {
	w := ls[i].indent
	j := i + 1
	for j < len(ls) && ls[j].indent > w {
		j++
	}
	return j - i
}

func conditionalLen(ls []srcLine, i int) int {
	w := ls[i].indent
	j := i + 1
	for j < len(ls) {
		if ls[j].indent > w {
			j++
		} else if ls[j].indent == w && hasAnyPrefix(ls[j].text, "*elseif", "*elsif", "*else") {
			j++
		} else {
			break
		}
	}
	return j - i
}

func hasAnyPrefix(s string, ps ...string) bool {
	for _, x := range ps {
		if strings.HasPrefix(s, x) {
			return true
		}
	}
	return false
}

var reBraceHash = regexp.MustCompile(`\{[^\}\{]+#[^\}\{]+\}`)

func (p *Player) isChoice(i int) (bool, error) {
	ls := p.lines()
	j := 0
	for {
		if i+j >= len(ls) {
			return false, fmt.Errorf("ran past the end of scene %s", p.curScene)
		}
		t := ls[i+j].text
		if !hasAnyPrefix(t, "*hide_reuse", "*disable_reuse", "*allow_reuse", "*if", "*else", "*selectable_if") {
			return strings.HasPrefix(t, "#"), nil
		}
		if strings.Contains(reBraceHash.ReplaceAllString(t, ""), "#") {
			return true, nil
		}
		j++
	}
}

// incIdx is upstream _inc_idx: the line after idx (entering a deeper block, else stepping
// over options and *else branches).
func (p *Player) incFrom(idx int) (int, error) {
	ls := p.lines()
	if idx+1 >= len(ls) {
		return 0, fmt.Errorf("ran past the end of scene %s", p.curScene)
	}
	if ls[idx+1].indent > ls[idx].indent {
		return idx + 1, nil
	}
	j := 1
	for {
		if idx+j >= len(ls) {
			return 0, fmt.Errorf("ran past the end of scene %s", p.curScene)
		}
		c, err := p.isChoice(idx + j)
		if err != nil {
			return 0, err
		}
		if !c && !strings.HasPrefix(ls[idx+j].text, "*else") {
			break
		}
		j += nestedLen(ls, idx+j)
	}
	if idx+j >= len(ls) || ls[idx+j].indent > ls[idx].indent {
		return 0, fmt.Errorf("bad indentation after line %d", idx)
	}
	return idx + j, nil
}

func (p *Player) incIdx() error {
	n, err := p.incFrom(p.idx)
	if err != nil {
		return err
	}
	p.idx = n
	return nil
}

// state executes the current line (upstream state()). It returns the text to print
// (isText), or the option texts at a choice.
func (p *Player) state() (text string, choices []string, isText bool, err error) {
	l, err := p.line(p.idx)
	if err != nil {
		return "", nil, false, err
	}
	line := l.text
	tmp := strings.ToLower(line)
	ls := p.lines()
	if !strings.HasPrefix(tmp, "*") {
		if err := p.incIdx(); err != nil {
			return "", nil, false, err
		}
		return line, nil, true, nil
	}
	has := func(ps ...string) bool { return hasAnyPrefix(tmp, ps...) }
	switch {
	case has("*choice", "*fake_choice"):
		n := nestedLen(ls, p.idx)
		if n < 2 {
			return "", nil, false, fmt.Errorf("*choice without options")
		}
		texts, targets, optLines, err := p.getChoices(p.idx+1, p.idx+n, p.hideReuse)
		if err != nil {
			return "", nil, false, err
		}
		if len(texts) == 0 {
			return "", nil, false, fmt.Errorf("*choice with no option available")
		}
		p.choiceLines = make([][2]int, len(texts))
		for i := range texts {
			t := targets[i]
			if t < 0 {
				if t, err = p.incFrom(p.idx + n - 1); err != nil {
					return "", nil, false, err
				}
			}
			p.choiceLines[i] = [2]int{t, optLines[i]}
		}
		p.choiceTexts = texts
		return "", texts, false, nil
	case has("*if"):
		n := conditionalLen(ls, p.idx)
		var conds []string
		var bodies []int
		j := 0
		for j < n {
			cl := nestedLen(ls, p.idx+j)
			if cl > n-j {
				cl = n - j
			}
			if cl <= 1 {
				return "", nil, false, fmt.Errorf("empty conditional clause %q", ls[p.idx+j].text)
			}
			if c, err := p.isChoice(p.idx + j); err != nil {
				return "", nil, false, err
			} else if c {
				return "", nil, false, fmt.Errorf("*if clause holds an option outside a *choice")
			}
			conds = append(conds, ls[p.idx+j].text)
			bodies = append(bodies, p.idx+j+1)
			j += cl
		}
		c, err := p.checkCond(conds)
		if err != nil {
			return "", nil, false, err
		}
		if c >= 0 {
			p.idx = bodies[c]
			return "", nil, false, nil
		}
		p.idx += j - 1
	case has("*achievement"):
		n := nestedLen(ls, p.idx)
		if err := p.setAch(ls[p.idx : p.idx+n]); err != nil {
			return "", nil, false, err
		}
		p.idx += n
		return "", nil, false, nil
	case has("*achieve"):
		f := strings.Fields(line)
		if len(f) < 2 {
			return "", nil, false, fmt.Errorf("*achieve without a name")
		}
		a := strings.ToLower(f[1])
		if !slices.Contains(p.unlocked, a) {
			p.unlocked = append(p.unlocked, a)
		}
	case has("*allow_reuse"):
		p.hideReuse = false
	case has("*bug"):
		return "", nil, false, fmt.Errorf("*bug reached")
	case has("*create"):
		f := splitN(line, 2)
		if len(f) != 3 {
			return "", nil, false, fmt.Errorf("*create needs a name and a value")
		}
		v, err := p.setVar(f[1], &f[2])
		if err != nil {
			return "", nil, false, err
		}
		p.addUserVar(v)
	case has("*ending", "*delay_ending"):
		return EndText, nil, true, nil
	case has("*finish"):
		i := slices.Index(p.src.sceneList, p.curScene) + 1
		if i <= 0 || i >= len(p.src.sceneList) {
			return "", nil, false, fmt.Errorf("*finish in the last scene of scene_list")
		}
		p.curScene = p.src.sceneList[i]
		if err := p.enterScene(); err != nil {
			return "", nil, false, err
		}
		p.idx = 0
		return "", nil, false, nil
	case has("*gotoref"):
		f := splitN(line, 1)
		if len(f) != 2 {
			return "", nil, false, fmt.Errorf("*gotoref without a target")
		}
		ref := f[1]
		getRef := !strings.ContainsAny(ref, `"'`)
		r, err := p.processExp(ref, true, true)
		if err != nil {
			return "", nil, false, err
		}
		r = strings.ToLower(strings.ReplaceAll(r, `"`, ""))
		name := p.curScene + "_" + r
		if getRef {
			v, ok := p.sym[r]
			s, isStr := v.(string)
			if !ok || !isStr {
				return "", nil, false, fmt.Errorf("*gotoref: %s is not a label name", r)
			}
			name = p.curScene + "_" + strings.ToLower(s)
		}
		i, ok := p.src.labels[name]
		if !ok {
			return "", nil, false, fmt.Errorf("no label %s", name)
		}
		p.idx = i
	case has("*goto_random_scene"):
		n := nestedLen(ls, p.idx)
		if n < 2 {
			return "", nil, false, fmt.Errorf("*goto_random_scene without scenes")
		}
		var scenes []string
		for _, s := range ls[p.idx+1 : p.idx+n] {
			scenes = append(scenes, s.text)
		}
		if err := p.goToScene(scenes[p.rnd.Choice(len(scenes))]); err != nil {
			return "", nil, false, err
		}
		p.idx = 0
		return "", nil, false, nil
	case has("*gosub_scene", "*goto_scene"):
		split, err := p.jumpArgs(line, has("*gosub_scene"), "scene")
		if err != nil {
			return "", nil, false, err
		}
		s, err := p.processExp(split[1], true, false)
		if err != nil {
			return "", nil, false, err
		}
		if err := p.goToScene(strings.ToLower(s)); err != nil {
			return "", nil, false, err
		}
		if len(split) == 2 {
			p.idx = 0
			return "", nil, false, nil
		}
		if err := p.jumpToLabel(split[2], split[3:]); err != nil {
			return "", nil, false, err
		}
	case has("*gosub", "*goto"):
		split, err := p.jumpArgs(line, has("*gosub"), "label")
		if err != nil {
			return "", nil, false, err
		}
		if err := p.jumpToLabel(split[1], split[2:]); err != nil {
			return "", nil, false, err
		}
	case has("*hide_reuse", "*disable_reuse"):
		if strings.Contains(line, "#") {
			return "", nil, false, fmt.Errorf("reuse command with an option outside a *choice")
		}
		p.hideReuse = true
	case has("*input_number"):
		f := strings.Fields(line)
		if len(f) < 2 {
			return "", nil, false, fmt.Errorf("*input_number without a variable")
		}
		one := "1"
		if _, err := p.setVar(f[1], &one); err != nil {
			return "", nil, false, err
		}
	case has("*input_text"):
		f := strings.Fields(line)
		if len(f) < 2 {
			return "", nil, false, fmt.Errorf("*input_text without a variable")
		}
		v := `"user_input"`
		if _, err := p.setVar(f[1], &v); err != nil {
			return "", nil, false, err
		}
	case has("*page_break"):
		if err := p.incIdx(); err != nil {
			return "", nil, false, err
		}
		rest := ""
		if len(line) > 12 {
			rest = line[12:]
		}
		return "*****" + rest + "*****", nil, true, nil
	case has("*params"):
		if !p.hasParams {
			return "", nil, false, fmt.Errorf("*params before any *gosub")
		}
		vars := strings.Fields(line)[1:]
		for i := 0; i < len(vars) && i < len(p.params); i++ {
			v := p.params[i]
			if _, err := p.setVar(vars[i], &v); err != nil {
				return "", nil, false, err
			}
		}
	case has("*rand"):
		f := splitN(line, 3)
		if len(f) != 4 {
			return "", nil, false, fmt.Errorf("*rand needs a variable and two bounds")
		}
		lo, err := p.userVarsEval(f[2])
		if err != nil {
			return "", nil, false, err
		}
		hi, err := p.userVarsEval(f[3])
		if err != nil {
			return "", nil, false, err
		}
		a, err := pyInt(lo)
		if err != nil {
			return "", nil, false, err
		}
		b, err := pyInt(hi)
		if err != nil {
			return "", nil, false, err
		}
		if b < a {
			return "", nil, false, fmt.Errorf("empty range for randint(%d, %d)", a, b)
		}
		v := strconv.FormatInt(p.rnd.Randint(a, b), 10)
		if _, err := p.setVar(f[1], &v); err != nil {
			return "", nil, false, err
		}
	case has("*return"):
		if len(p.sceneHist) == 0 {
			return "", nil, false, fmt.Errorf("*return without *gosub")
		}
		top := p.sceneHist[len(p.sceneHist)-1]
		p.sceneHist = p.sceneHist[:len(p.sceneHist)-1]
		p.curScene, p.idx = top.scene, top.idx
	case has("*script"):
	case has("*setref"):
		f := splitN(line, 2)
		if len(f) != 3 {
			return "", nil, false, fmt.Errorf("*setref needs a variable and a value")
		}
		getRef := !strings.ContainsAny(f[1], `"'`)
		v, err := p.processExp(f[1], true, true)
		if err != nil {
			return "", nil, false, err
		}
		v = strings.ToLower(strings.ReplaceAll(v, `"`, ""))
		if getRef {
			s, ok := p.sym[v].(string)
			if !ok {
				return "", nil, false, fmt.Errorf("*setref: %s does not name a variable", v)
			}
			v = s
		}
		if _, err := p.setVar(v, &f[2]); err != nil {
			return "", nil, false, err
		}
	case has("*set"):
		f := splitN(line, 2)
		if len(f) != 3 {
			return "", nil, false, fmt.Errorf("*set needs a variable and a value")
		}
		if _, err := p.setVar(f[1], &f[2]); err != nil {
			return "", nil, false, err
		}
	case has("*stat_chart", "*scene_list"):
		p.idx += nestedLen(ls, p.idx) - 1
	case has("*temp"):
		f := splitN(line, 2)
		if len(f) < 2 {
			return "", nil, false, fmt.Errorf("*temp without a name")
		}
		var val *string
		if len(f) == 3 {
			val = &f[2]
		}
		v, err := p.setVar(f[1], val)
		if err != nil {
			return "", nil, false, err
		}
		p.addUserVar(v)
		if p.sceneTemps[p.curScene] == nil {
			p.sceneTemps[p.curScene] = map[string]any{}
		}
		if _, ok := p.sceneTemps[p.curScene][v]; !ok {
			p.sceneTempKeys[p.curScene] = append(p.sceneTempKeys[p.curScene], v)
		}
		x, ok := p.sym[v]
		if !ok {
			return "", nil, false, &nameError{v}
		}
		p.sceneTemps[p.curScene][v] = x
	case has("*label", "*comment", "*image", "*link", "*title", "*author", "***", "* * *", "*reset", "*script",
		"*product", "*purchase", "*looplimit", "*line_break", "*restore_game", "*save_game", "*show_password",
		"*advertisement", "*text_image", "*subscribe", "*feedback", "*check_purchase", "*purchase_discount",
		"*delay_break", "*abort", "*check_achievements", "*(while stocks last)"):
	default:
		return "", nil, false, fmt.Errorf("unsupported command %q", strings.Fields(line)[0])
	}
	if err := p.incIdx(); err != nil {
		return "", nil, false, err
	}
	return "", nil, false, nil
}

// jumpArgs splits the line of a *goto or *gosub command (of a label or a scene, named by
// target), which must name its target, and for a *gosub (sub) records where to return to.
func (p *Player) jumpArgs(line string, sub bool, target string) ([]string, error) {
	if sub {
		p.sceneHist = append(p.sceneHist, sceneLoc{p.curScene, p.idx})
	}
	split := splitIntoParams(line)
	if len(split) < 2 {
		return nil, fmt.Errorf("%s without a %s", split[0], target)
	}
	return split, nil
}

// goToScene makes next the current scene.
func (p *Player) goToScene(next string) error {
	if _, ok := p.src.scenes[next]; !ok {
		return fmt.Errorf("no scene %s", next)
	}
	p.curScene = next
	return p.enterScene()
}

// jumpToLabel moves to the label that expression lab names in the current scene, with params
// as the *params of the gosub or goto.
func (p *Player) jumpToLabel(lab string, params []string) error {
	name, err := p.processExp(lab, true, false)
	if err != nil {
		return err
	}
	name = strings.ToLower(name)
	i, ok := p.src.labels[p.curScene+"_"+name]
	if !ok {
		return fmt.Errorf("no label %s in scene %s", name, p.curScene)
	}
	p.idx = i
	p.params, p.hasParams = params, true
	return nil
}
